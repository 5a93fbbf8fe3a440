r"""Checkers for the exercises of the chapter *Visualising loss landscapes*."""

from __future__ import annotations

import torch

from . import ExerciseResult, check_function

__all__ = ["check_filter_normalize", "reference_filter_normalize"]


def reference_filter_normalize(direction: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Li et al.'s filter normalisation of one parameter tensor: every slice :math:`i` along
    dimension 0 becomes :math:`d_i \|w_i\| / (\|d_i\| + 10^{-10})`; 1-D tensors become zero
    (``ignore="biasbn"``)."""
    if direction.dim() <= 1:
        return torch.zeros_like(direction)
    shape = (-1,) + (1,) * (direction.dim() - 1)
    return direction * (weight.flatten(1).norm(dim=1) / (direction.flatten(1).norm(dim=1) + 1e-10)).view(shape)


def check_filter_normalize(candidate) -> ExerciseResult:
    """Check a reader's ``filter_normalize(direction, weight)`` on a linear layer's matrix, a conv
    kernel and a bias vector (float64)."""
    if not callable(candidate):
        raise TypeError(f"candidate must be a function filter_normalize(direction, weight), "
                        f"got {type(candidate).__name__}")
    g = torch.Generator().manual_seed(0)
    cases = [
        (torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)),
        (torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64),
         torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)),
        (torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)),
    ]
    hint = ("Rescale each row (each slice along dim 0, so a whole conv filter) of the direction to the norm of "
            "the same row of the weight, and return zeros for 1-D tensors (biases).")
    result = check_function(candidate, reference_filter_normalize, cases, "filter_normalize", rtol=1e-8,
                            atol=1e-10, hint=hint)
    if result.passed:
        return ExerciseResult(True, result.message + " Each filter of the direction now has its weight's norm.")
    return result
