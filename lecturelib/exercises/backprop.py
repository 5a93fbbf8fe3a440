r"""Checkers for the exercises of the chapter *Backpropagation, derived*.

Every reference comes from ``torch.autograd`` on a random float64 :class:`lecturelib.models.MLP`,
never from the reader's own formulas.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import ACTIVATIONS, MLP
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_bias_gradient", "check_residual_delta"]

_CASES = [("tanh", 0), ("sigmoid", 1), ("relu", 2), ("elu", 3)]


def _autograd_states(activation: str, residual: bool, seed: int):
    """A random float64 MLP, its states with ``.grad`` filled by autograd, and the model."""
    with torch.random.fork_rng(devices=[]):  # seeded here, the reader's random state is left as it was
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


def check_bias_gradient(bias_gradient) -> ExerciseResult:
    r"""Check ``bias_gradient(delta_next, pre_activation, activation_derivative) -> (n_{j+1},)``.

    Arguments are the batch's :math:`\Delta_{j+1}` ``(batch, n_{j+1})`` (per-sample rows of
    :math:`\partial L/\partial z_{j+1}`), :math:`V_j` ``(batch, n_{j+1})`` and the element-wise
    :math:`\sigma_j'`. The answer must equal autograd's ``layers[j].bias.grad``, i.e.
    :math:`\sum_i (\delta_{j+1} \odot \sigma_j'(v_j))_i` (Rumelhart et al. 1986).
    """
    require_function(bias_gradient, "bias_gradient")
    for activation, seed in _CASES:
        model, states = _autograd_states(activation, residual=False, seed=seed)
        derivative = ACTIVATIONS[activation].derivative
        for k in range(len(states["pre"])):
            delta_next = states["post"][k].grad.detach()  # (batch, n_{k+2})
            v = states["pre"][k].detach()
            what = f"bias gradient of hidden layer {k + 1} ({activation})"
            got, failure = call_answer(bias_gradient, (delta_next, v, derivative), what)
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
    require_function(residual_delta, "residual_delta")
    for activation, seed in _CASES:
        model, states = _autograd_states(activation, residual=True, seed=seed)
        derivative = ACTIVATIONS[activation].derivative
        for k in range(1, len(states["pre"])):  # hidden layers 1.. are residual (layer 0 changes width)
            assert model.residual_mask[k]
            delta_next = states["post"][k].grad.detach()  # delta_{j+1}, (batch, 5)
            weight = model.layers[k].weight.detach()  # W_j, (5, 5)
            v = states["pre"][k].detach()
            what = f"delta entering residual layer {k + 1} ({activation})"
            got, failure = call_answer(residual_delta, (delta_next, weight, v, derivative), what)
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
