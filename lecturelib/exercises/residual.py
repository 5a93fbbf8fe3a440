"""Answer checkers for the residual-networks chapter (:mod:`book/residual`)."""

from __future__ import annotations

import torch

from ..models import MLP
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_parameter_count", "check_identity_embedding"]


def _reference_count(hidden: int, width: int) -> int:
    """Parameters of ``MLP([1] + [width] * hidden + [1, 1])``: weights plus biases of each layer."""
    widths = [1] + [width] * hidden + [1, 1]
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))


def check_parameter_count(formula) -> ExerciseResult:
    """Check ``formula(hidden, width)``, the parameter count of the lecture's nets
    ``[1] + [width] * hidden + [1, 1]`` (78 for ``hidden=3, width=5``), for hidden = 1..50 and
    width = 1..8."""
    require_function(formula, "formula")
    for width in range(1, 9):
        for hidden in range(1, 51):
            got, failure = call_answer(formula, (hidden, width), f"formula({hidden}, {width})")
            if failure is not None:
                return failure
            expected = _reference_count(hidden, width)
            if got != expected:
                return ExerciseResult(False, f"formula({hidden}, {width}) = {got!r}, but the net has {expected} "
                                             "parameters. Count the first layer (1 -> width), the hidden-1 "
                                             "square layers (width -> width), then width -> 1 and 1 -> 1, each "
                                             "with its biases.")
    return ExerciseResult(True, "the formula gives every net's parameter count (e.g. 1,338 for 45 x 5).")


def check_identity_embedding(embed) -> ExerciseResult:
    """Check ``embed(shallow, hidden)``: it must return a residual ``MLP`` with ``hidden`` layers of
    width 5 that computes the same function as the residual ``shallow`` (to 1e-12 in float64)."""
    require_function(embed, "embed")
    x = torch.linspace(-3, 3, 301, dtype=torch.float64).unsqueeze(1)  # (301, 1)
    for seed, (shallow_hidden, hidden) in enumerate([(3, 5), (3, 45), (5, 12), (2, 2)]):
        torch.manual_seed(seed)
        shallow = MLP([1] + [5] * shallow_hidden + [1, 1], activation="leaky_relu", residual=True).double()
        deeper, failure = call_answer(embed, (shallow, hidden), f"embed(shallow, {hidden})")
        if failure is not None:
            return failure
        expected_widths = [1] + [5] * hidden + [1, 1]
        if not isinstance(deeper, MLP) or deeper.widths != expected_widths or not deeper.residual:
            return ExerciseResult(False, f"embed(shallow, {hidden}) must return a residual MLP with widths "
                                         f"{expected_widths}, got {getattr(deeper, 'widths', deeper)!r}.")
        with torch.no_grad():
            result = check_close(deeper.double()(x), shallow(x), f"the {hidden}-layer net's output on [-3, 3]",
                                 rtol=0, atol=1e-12,
                                 hint="Copy the shallow net's first layers and its last two layers; set "
                                      "weight and bias of every extra 5 x 5 block to zero.")
        if not result.passed:
            return result
    return ExerciseResult(True, "every deeper residual net computes the shallow net's function exactly.")
