r"""Checkers for the convexification chapter's exercises.

* :func:`check_singular_value_projection`: the reader's ``project(s, radius)``, the Euclidean
  projection of a vector of singular values :math:`s_1 \ge \dots \ge s_n \ge 0` onto the
  :math:`\ell_1` ball, which is the heart of the projection onto the nuclear-norm ball:

  .. math:: w_i = \max(s_i - \theta, 0), \qquad \theta \ge 0 \text{ the smallest with } \textstyle\sum_i w_i \le R.

The reference solves for :math:`\theta` by bisection, independently of
:func:`lecturelib.convex.project_l1_ball` (which sorts, as Duchi et al. 2008 do). On a mismatch
the checker replays the usual mistakes (shrinking a vector already inside the ball, forgetting
the clamp at zero, rescaling instead of shrinking, a threshold averaged over every entry) on the
same input and names the one that reproduces the answer.
"""

from __future__ import annotations

import numpy as np
import torch

from . import ExerciseResult, answer_tensor, call_answer, require_function

__all__ = ["check_singular_value_projection"]


def _threshold(s: np.ndarray, radius: float) -> float:
    """theta >= 0 with sum max(s - theta, 0) = radius (or 0 when s is inside), by bisection."""
    if s.sum() <= radius:
        return 0.0
    low, high = 0.0, float(s.max())
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if np.maximum(s - middle, 0).sum() > radius else (low, middle)
    return (low + high) / 2


def _reference(s, radius):
    return np.maximum(s - _threshold(s, radius), 0.0)


def _always_shrinks(s, radius):
    theta = (s.sum() - radius) / len(s)            # shrinks even a vector already inside
    return np.maximum(s - theta, 0.0)


_MISTAKES = (
    (_always_shrinks,
     "a vector already inside the ball (sum(s) <= radius) is shrunk; it should be returned unchanged."),
    (lambda s, radius: s - _threshold(s, radius),
     "the clamp at zero is missing: w_i = max(s_i - theta, 0), so singular values below theta become 0."),
    (lambda s, radius: s * min(1.0, radius / s.sum()),
     "this rescales s to the sphere; the projection shrinks every entry by the same amount theta instead."),
    (lambda s, radius: np.maximum(s - max((s.sum() - radius) / len(s), 0.0), 0.0),
     "theta is averaged over all entries; it must be averaged over the entries that stay positive only "
     "(theta = (sum of the rho largest - radius) / rho)."),
)


def _cases():
    rng = np.random.default_rng(3)
    return [
        (np.array([3.0, 1.0, 0.5]), 2.0, "s = (3, 1, 0.5), radius 2 (only the largest survives)"),
        (np.array([2.0, 1.5, 1.0, 0.2]), 3.0, "s = (2, 1.5, 1, 0.2), radius 3"),
        (np.array([0.5, 0.3, 0.1]), 2.0, "s = (0.5, 0.3, 0.1), already inside the ball of radius 2"),
        (np.array([1.0, 1.0, 1.0]), 1.5, "three equal singular values, radius 1.5"),
        (np.sort(rng.exponential(size=12))[::-1].copy(), 2.0, "12 random singular values, radius 2"),
        (np.sort(rng.exponential(size=30))[::-1].copy(), 10.0, "30 random singular values, radius 10"),
    ]


def check_singular_value_projection(project) -> ExerciseResult:
    """Check ``project(s, radius)``: the projection of singular values ``s`` (a float64 torch
    tensor, sorted in decreasing order, nonnegative) onto {w : sum |w_i| <= radius}.

    Compared with a bisection for the threshold on six vectors (one already inside the ball,
    ties, random spectra) to 1e-8. A wrong answer is diagnosed against the usual mistakes.
    ``TypeError`` if ``project`` is not a function.
    """
    require_function(project, "project")
    cases = _cases()
    for s, radius, what in cases:
        got, failure = call_answer(project, (torch.tensor(s), radius), f"on {what}")
        if failure is not None:
            return failure
        answer = answer_tensor(got)
        expected = _reference(s, radius)
        if answer is None or tuple(answer.shape) != expected.shape:
            return ExerciseResult(False, f"on {what}: expected a vector of {len(s)} numbers, got {got!r}.")
        answer = answer.numpy()
        if np.allclose(answer, expected, rtol=0, atol=1e-8):
            continue
        hint = next((h for mistake, h in _MISTAKES if np.allclose(answer, mistake(s, radius), rtol=0, atol=1e-8)),
                    None)
        message = f"on {what}: expected {np.round(expected, 6).tolist()}, got {np.round(answer, 6).tolist()}."
        return ExerciseResult(False, message + (f" It looks as if {hint}" if hint else
                              " Find theta with sum(max(s - theta, 0)) = radius, then clamp at zero."))
    return ExerciseResult(True, f"your projection agrees with a bisection for the threshold on all {len(cases)} "
                                "spectra (one already inside the ball, ties, random spectra).")
