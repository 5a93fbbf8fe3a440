r"""Checkers for the exercises of the chapters *Backpropagation, derived* and *Vanishing and exploding gradients*.

Every reference comes from ``torch.autograd`` on a random float64 :class:`lecturelib.models.MLP`
(or, for the Lipschitz bound, from dense SVDs), never from the reader's own formulas.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import ACTIVATIONS, MLP
from . import ExerciseResult, check_close

__all__ = ["check_bias_gradient", "check_residual_delta", "check_lipschitz_bound"]

_CASES = [("tanh", 0), ("sigmoid", 1), ("relu", 2), ("elu", 3)]


def _autograd_states(activation: str, residual: bool, seed: int):
    """A random float64 MLP, its states with ``.grad`` filled by autograd, and the model."""
    torch.manual_seed(seed)
    model = MLP([3, 5, 5, 5, 2], activation=activation, residual=residual).double()
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(0.0, 0.5)
    X = torch.randn(7, 3, dtype=torch.float64)
    y = torch.randn(7, 2, dtype=torch.float64)
    states = model.forward_with_states(X)
    for z in states["post"]:
        z.retain_grad()
    F.mse_loss(states["output"], y).backward()
    return model, states


def _require_callable(answer, name):
    if not callable(answer):
        raise TypeError(f"{name} must be a function, got {type(answer).__name__}")


def _call(answer, args, what):
    try:
        return answer(*args), None
    except Exception as error:  # the reader's code failed: say how, keep the notebook running
        return None, ExerciseResult(False, f"{what}: your function raised {type(error).__name__}: {error}")


def check_bias_gradient(bias_gradient) -> ExerciseResult:
    r"""Check ``bias_gradient(delta_next, pre_activation, activation_derivative) -> (n_{j+1},)``.

    Arguments are the batch's :math:`\Delta_{j+1}` ``(batch, n_{j+1})`` (per-sample rows of
    :math:`\partial L/\partial z_{j+1}`), :math:`V_j` ``(batch, n_{j+1})`` and the element-wise
    :math:`\sigma_j'`. The answer must equal autograd's ``layers[j].bias.grad``, i.e.
    :math:`\sum_i (\delta_{j+1} \odot \sigma_j'(v_j))_i` (Rumelhart et al. 1986).
    """
    _require_callable(bias_gradient, "bias_gradient")
    for activation, seed in _CASES:
        model, states = _autograd_states(activation, residual=False, seed=seed)
        derivative = ACTIVATIONS[activation].derivative
        for k in range(len(states["pre"])):
            delta_next = states["post"][k].grad.detach()  # (batch, n_{k+2})
            v = states["pre"][k].detach()
            what = f"bias gradient of hidden layer {k + 1} ({activation})"
            got, failure = _call(bias_gradient, (delta_next, v, derivative), what)
            if failure is not None:
                return failure
            expected = model.layers[k].bias.grad
            result = check_close(got, expected, what, rtol=1e-9, atol=1e-12)
            if not result.passed:
                hint = ""
                if isinstance(got, torch.Tensor) and got.shape == delta_next.shape:
                    hint = "You returned one row per sample: the batch loss adds them up, sum over dim 0."
                elif isinstance(got, torch.Tensor) and got.shape == expected.shape:
                    if torch.allclose(got, delta_next.sum(0)):
                        hint = "You left out the activation's slope: multiply delta_{j+1} by sigma'(v_j) element-wise."
                    elif torch.allclose(got, (delta_next * derivative(v)).mean(0)):
                        hint = "The batch deltas already carry the 1/batch of the mean loss: sum, do not average."
                return ExerciseResult(False, f"{result.message} {hint}".strip())
    return ExerciseResult(True, "the bias gradient sum_i (delta_{j+1} ⊙ sigma'(v_j))_i matches autograd on "
                                f"{len(_CASES)} networks and every hidden layer.")


def check_residual_delta(residual_delta) -> ExerciseResult:
    r"""Check ``residual_delta(delta_next, weight, pre_activation, activation_derivative) -> (batch, n_j)``.

    For a residual layer :math:`z_{j+1} = z_j + \sigma_j(W_j z_j + b_j)` the answer must equal
    autograd's :math:`\partial L/\partial z_j`, i.e.
    :math:`\delta_j = W_j^\top(\delta_{j+1}\odot\sigma_j'(v_j)) + \delta_{j+1}` (He et al. 2016), rows per sample.
    """
    _require_callable(residual_delta, "residual_delta")
    for activation, seed in _CASES:
        model, states = _autograd_states(activation, residual=True, seed=seed)
        derivative = ACTIVATIONS[activation].derivative
        for k in range(1, len(states["pre"])):  # hidden layers 1.. are residual (layer 0 changes width)
            assert model.residual_mask[k]
            delta_next = states["post"][k].grad.detach()  # delta_{j+1}, (batch, 5)
            weight = model.layers[k].weight.detach()  # W_j, (5, 5)
            v = states["pre"][k].detach()
            what = f"delta entering residual layer {k + 1} ({activation})"
            got, failure = _call(residual_delta, (delta_next, weight, v, derivative), what)
            if failure is not None:
                return failure
            expected = states["post"][k - 1].grad  # dL/dz_j
            result = check_close(got, expected, what, rtol=1e-9, atol=1e-12)
            if not result.passed:
                plain = (delta_next * derivative(v)) @ weight
                hint = ""
                if isinstance(got, torch.Tensor) and got.shape == plain.shape and torch.allclose(got, plain):
                    hint = "That is the plain-network delta: the skip connection adds delta_{j+1} itself."
                elif isinstance(got, torch.Tensor) and got.shape == plain.shape and torch.allclose(
                        got, (delta_next * derivative(v)) @ weight.T + delta_next):
                    hint = "With samples as rows, W_j^T g becomes g @ W_j (not g @ W_j.T)."
                return ExerciseResult(False, f"{result.message} {hint}".strip())
    return ExerciseResult(True, "the residual delta W_j^T(delta_{j+1} ⊙ sigma'(v_j)) + delta_{j+1} matches "
                                "autograd's dL/dz_j on every residual layer of 4 networks.")


def check_lipschitz_bound(lipschitz_bound) -> ExerciseResult:
    r"""Check ``lipschitz_bound(model) -> float`` for MLPs with 1-Lipschitz activations.

    The answer must be the lecture's bound :math:`\prod_j c_j` with :math:`c_j = \|W_j\|_2`, replaced by
    :math:`1 + \|W_j\|_2` for residual hidden layers (``model.residual_mask``), computed here from
    dense singular values (Bartlett et al. 2017).
    """
    _require_callable(lipschitz_bound, "lipschitz_bound")
    for number, (widths, residual, seed) in enumerate([([2, 6, 6, 1], False, 0), ([3, 4, 4, 4, 2], True, 1),
                                                       ([2, 5, 5, 5, 5, 1], True, 2)], 1):
        torch.manual_seed(seed)
        model = MLP(widths, activation="relu", residual=residual).double()
        norms = [torch.linalg.svdvals(layer.weight.detach())[0].item() for layer in model.layers]
        factors = [1 + s if k < len(model.residual_mask) and model.residual_mask[k] else s
                   for k, s in enumerate(norms)]
        expected = torch.tensor(factors, dtype=torch.float64).prod()
        what = f"Lipschitz bound of network {number} ({'residual' if residual else 'plain'}, widths {widths})"
        got, failure = _call(lipschitz_bound, (model,), what)
        if failure is not None:
            return failure
        result = check_close(got, expected, what, rtol=1e-8)
        if not result.passed:
            hint = ""
            try:
                value = float(got)
            except (TypeError, ValueError):
                value = None
            frobenius = float(torch.tensor([layer.weight.detach().norm() for layer in model.layers],
                                           dtype=torch.float64).prod())
            if value is not None and abs(value - frobenius) <= 1e-8 * frobenius:
                hint = "That uses Frobenius norms; the spectral norm is the largest singular value (ord=2)."
            elif value is not None and abs(value - float(torch.tensor(norms).double().prod())) < 1e-6 * value:
                hint = "Residual hidden layers contribute 1 + ||W_j||_2, not ||W_j||_2 (see model.residual_mask)."
            return ExerciseResult(False, f"{result.message} {hint}".strip())
    return ExerciseResult(True, "your bound equals prod_j ||W_j||_2 (1 + ||W_j||_2 for residual layers) on 3 networks.")
