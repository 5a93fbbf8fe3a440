"""Checker for the weight-initialisation chapter: the forward loop of the lecture's experiment."""

from __future__ import annotations

import torch

from ..models import get_activation
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["reference_layer_stds", "check_layer_stds"]


def reference_layer_stds(X: torch.Tensor, weights, activation: str) -> torch.Tensor:
    r"""Per-layer standard deviation of :math:`h_l = \sigma(h_{l-1} W_l^T)`, :math:`h_0 = X`, over
    all samples and units (population std, ``unbiased=False``); ``weights[l]`` has shape
    ``(fan_out, fan_in)``. Returns a ``(len(weights),)`` tensor (Glorot & Bengio 2010, section 4)."""
    act = get_activation(activation).function
    h, stds = X, []
    for W in weights:
        h = act(h @ W.T)  # (N, fan_out)
        stds.append(h.std(unbiased=False))
    return torch.stack(stds)


def _cases():
    generator = torch.Generator().manual_seed(2024)
    cases = []
    for activation, scale, depth in (("tanh", 1.0, 4), ("relu", 1.4, 3), ("tanh", 3.0, 2)):
        X = torch.randn(64, 20, generator=generator, dtype=torch.float64)
        weights = [torch.randn(20, 20, generator=generator, dtype=torch.float64) * scale / 20 ** 0.5
                   for _ in range(depth)]
        cases.append((X, weights, activation))
    return cases


def check_layer_stds(candidate) -> ExerciseResult:
    """Check ``candidate(X, weights, activation) -> tensor of per-layer stds`` against
    :func:`reference_layer_stds` on three seeded networks (tanh and ReLU, 2 to 4 layers)."""
    require_function(candidate)
    for number, (X, weights, activation) in enumerate(_cases(), 1):
        got, failure = call_answer(candidate, (X, weights, activation), f"test case {number}")
        if failure is not None:
            return failure
        expected = reference_layer_stds(X, weights, activation)
        result = check_close(got, expected, f"per-layer stds (test case {number}, {activation})", rtol=1e-8)
        if result.passed:
            continue
        try:
            got_tensor = torch.as_tensor(got, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            return result
        act = get_activation(activation).function
        h, unbiased, pre = X, [], []
        for W in weights:
            s = h @ W.T
            h = act(s)
            unbiased.append(h.std())
            pre.append(s.std(unbiased=False))
        if got_tensor.shape == expected.shape and torch.allclose(got_tensor, torch.stack(unbiased), rtol=1e-8):
            return ExerciseResult(False, "close: you used the unbiased std (divide by N-1); use "
                                         "h.std(unbiased=False), the population std over all samples and units.")
        if got_tensor.shape == expected.shape and torch.allclose(got_tensor, torch.stack(pre), rtol=1e-8):
            return ExerciseResult(False, "these are the stds of the pre-activations s = h W^T; "
                                         "apply the activation before measuring.")
        if got_tensor.shape == expected.shape and torch.allclose(got_tensor[0], expected[0], rtol=1e-8):
            return ExerciseResult(False, result.message + " Layer 1 is right, so check that each layer's "
                                  "input is the previous layer's output h, not X.")
        return ExerciseResult(False, result.message + " Multiply by W.T (weights are (fan_out, fan_in)).")
    return ExerciseResult(True, "your forward loop reproduces the per-layer stds on all three networks.")
