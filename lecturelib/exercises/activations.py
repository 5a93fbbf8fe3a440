r"""Answer checkers for the activations chapter.

* :func:`check_elu_derivative`: the derivative of ELU (Clevert et al. 2016),
  :math:`\sigma'(u) = 1` for :math:`u > 0` and :math:`\alpha e^u` otherwise, compared with autograd.
* :func:`check_collapse`: a function that multiplies an identity-activation network out into
  :math:`(W, b)` with :math:`m(x) = Wx + b` (Giselsson's lecture, "Identity activation").
* :func:`check_parameter_count`: the number of weights and biases of a fully connected network,
  :math:`\sum_j (n_j + 1)\,n_{j+1}`, compared with ``models.count_parameters``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import models
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_elu_derivative", "check_collapse", "check_parameter_count"]


def check_elu_derivative(candidate) -> ExerciseResult:
    r"""Check ``candidate(u, alpha)`` against autograd's derivative of ``F.elu(u, alpha)``.

    ``u`` is a float64 tensor that avoids the kink at 0; ``alpha`` is 1.0 and 0.5. The expected
    answer is :math:`\sigma'(u) = 1` for :math:`u > 0` and :math:`\alpha e^{u}` for :math:`u \le 0`.
    """
    require_function(candidate)
    u = torch.linspace(-4.0, 4.0, 41, dtype=torch.float64)
    u = u[u.abs() > 1e-9]  # (40,): the derivative jumps at 0 when alpha != 1
    for alpha in (1.0, 0.5):
        leaf = u.clone().requires_grad_(True)
        (reference,) = torch.autograd.grad(F.elu(leaf, alpha).sum(), leaf)
        answer, failure = call_answer(candidate, (u.clone(), alpha), f"elu_derivative(u, alpha={alpha})")
        if failure is not None:
            return failure
        hint = ("For u > 0 ELU is u, so the slope is 1; for u <= 0 it is alpha * (exp(u) - 1), whose "
                "slope is alpha * exp(u). Use torch.where(u > 0, ..., ...).")
        result = check_close(answer, reference, f"ELU derivative with alpha={alpha}", rtol=1e-9, atol=1e-12,
                             hint=hint)
        if not result.passed:
            return result
    return ExerciseResult(True, "your ELU derivative equals autograd's on 40 points for alpha = 1 and 0.5. "
                                "Note it is continuous at 0 only when alpha = 1.")


def _identity_networks():
    """Three float64 identity-activation MLPs of different shapes, fixed by a seed."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(1234)
        nets = [models.MLP(w, activation="identity").double()
                for w in ([1, 5, 5, 5, 1, 1], [3, 4, 2], [4, 6, 6, 6, 3])]
    finally:
        torch.random.set_rng_state(generator_state)  # leave the reader's random stream untouched
    return nets


def check_collapse(candidate) -> ExerciseResult:
    r"""Check that ``candidate(model)`` returns ``(W, b)`` with ``model(x) == x @ W.T + b``.

    Tried on three identity-activation networks, among them the lecture's
    ``MLP([1, 5, 5, 5, 1, 1])``; ``W`` must have shape ``(n_out, n_in)`` and ``b`` shape ``(n_out,)``.
    """
    require_function(candidate)
    for number, net in enumerate(_identity_networks(), 1):
        n_in, n_out = net.widths[0], net.widths[-1]
        x = torch.linspace(-2.0, 2.0, 7 * n_in, dtype=torch.float64).reshape(7, n_in)  # (7, n_in)
        with torch.no_grad():
            expected = net(x)  # (7, n_out)
            answer, failure = call_answer(candidate, (net,), f"network {number} (widths {net.widths})")
        if failure is not None:
            return failure
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            return ExerciseResult(False, "return a pair (W, b), e.g. `return W, b`; got "
                                         f"{type(answer).__name__}")
        W, b = (torch.as_tensor(a, dtype=torch.float64) for a in answer)
        if W.shape != (n_out, n_in):
            return ExerciseResult(False, f"network {number} (widths {net.widths}): W must have shape "
                                         f"({n_out}, {n_in}) = (outputs, inputs), got {tuple(W.shape)}. "
                                         "Multiply the layers' weights from the last to the first: "
                                         "W = W_n @ ... @ W_1.")
        if b.reshape(-1).shape != (n_out,):
            return ExerciseResult(False, f"network {number}: b must have {n_out} entries, got shape {tuple(b.shape)}")
        hint = ("W = W_n ... W_1 (last layer on the left); b = b_n + W_n b_{n-1} + W_n W_{n-1} b_{n-2} + ...: "
                "carry (W, b) through the layers with W <- A W, b <- A b + c for each layer's (A, c).")
        result = check_close(x @ W.T + b.reshape(-1), expected, f"W x + b on network {number} (widths "
                             f"{net.widths})", rtol=1e-9, atol=1e-10, hint=hint)
        if not result.passed:
            return result
    return ExerciseResult(True, "W x + b reproduces all three identity networks, the lecture's 78-parameter "
                                "one included: without a nonlinearity depth adds nothing to what is computed.")


def check_parameter_count(candidate) -> ExerciseResult:
    r"""Check ``candidate(widths)`` against ``models.count_parameters(models.MLP(widths))``.

    The expected count is :math:`\sum_{j} (n_j + 1)\, n_{j+1}` over consecutive widths: a weight
    matrix :math:`n_{j+1}\times n_j` and a bias of :math:`n_{j+1}` entries per layer.
    """
    require_function(candidate)
    cases = [[1, 5, 5, 5, 1, 1], [64, 10], [64, 32, 32, 10], [40, 100, 100, 100, 10], [784, 1000, 1000, 10]]
    for widths in cases:
        expected = sum((n_in + 1) * n_out for n_in, n_out in zip(widths[:-1], widths[1:]))
        if widths[0] < 100:  # cross-check the formula against real torch layers where that is cheap
            assert expected == models.count_parameters(models.MLP(widths))
        answer, failure = call_answer(candidate, (list(widths),), f"widths={widths}")
        if failure is not None:
            return failure
        if isinstance(answer, torch.Tensor):
            answer = answer.item()
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != expected:
            weights_only = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
            if answer == weights_only:
                why = "that counts the weight matrices only; every layer also has one bias per output unit."
            elif answer == sum((a + 1) * b for a, b in zip(widths[:-2], widths[1:-1])):
                why = "the last (output) layer is missing: it has weights and biases too."
            else:
                why = "each layer j maps n_j inputs to n_{j+1} outputs with an n_{j+1} x n_j matrix and n_{j+1} biases."
            return ExerciseResult(False, f"for widths={widths} the network has {expected} parameters, "
                                         f"your function returned {answer!r}: {why}")
    return ExerciseResult(True, f"your count is right on {len(cases)} networks, e.g. 78 for the lecture's "
                                "[1, 5, 5, 5, 1, 1].")
