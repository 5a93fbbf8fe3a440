r"""Figures of the convexification chapter: the rank constraint and its nuclear-norm relaxation.

:func:`draw_rank_and_ball` shows, for 2x2 diagonal matrices diag(a, b), the non-convex set of
rank <= 1 (the two axes) inside the convex nuclear-norm ball |a| + |b| <= R;
:func:`draw_objectives` draws training objectives per step; :func:`draw_radius_sweep` the
singular values and errors of the relaxed program's solutions as the radius grows;
:func:`draw_singular_values` one solution's spectrum. They draw results they are handed.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_positive
from .style import COLORS, PALETTE, label

__all__ = ["draw_rank_and_ball", "draw_objectives", "draw_radius_sweep", "draw_singular_values"]


def draw_rank_and_ball(ax, radius: float = 1.0) -> None:
    """diag(a, b): rank <= 1 on the axes, ||.||_* = |a| + |b| <= radius the diamond, and two rank-1
    points whose midpoint has rank 2 (it lies off the axes)."""
    check_positive("radius", radius)
    r = radius
    ax.fill([r, 0, -r, 0], [0, r, 0, -r], color=PALETTE["sky"], alpha=0.35, label=r"$\|A\|_* \leq R$ (convex)")
    ax.plot([-1.3 * r, 1.3 * r], [0, 0], color=PALETTE["blue"], lw=2.5, label=r"rank $\leq 1$ (not convex)")
    ax.plot([0, 0], [-1.3 * r, 1.3 * r], color=PALETTE["blue"], lw=2.5)
    ax.plot([r, 0], [0, r], "o", color=PALETTE["orange"], ms=8, label="two rank-1 matrices")
    ax.plot([r / 2], [r / 2], "s", color=PALETTE["vermillion"], ms=8, label="their mean: rank 2")
    ax.set_aspect("equal")
    ax.legend(loc="lower left")
    label(ax, "a (first singular value)", "b (second)", "Rank is not convex; its relaxation is")


def draw_objectives(ax, objectives, names=None, best: float | None = None, colors=None) -> None:
    """One curve per run of its objective per step; with ``best``, the gap to it on a log axis."""
    for i, objective in enumerate(objectives):
        values = np.asarray(objective, dtype=float)
        if best is not None:
            values = np.maximum(values - best, 1e-16)
        ax.plot(values, color=(colors or COLORS)[i % len(COLORS)], lw=1.5,
                label=None if names is None else names[i])
    if best is not None:
        ax.set_yscale("log")
    if names is not None:
        ax.legend()


def draw_radius_sweep(axes, radii, singular_values, train_errors, test_errors, bound: float | None = None) -> None:
    """Left: the singular values of the solution against the radius; right: train and test error."""
    left, right = axes
    values = np.array([np.pad(np.sort(s)[::-1], (0, max(map(len, singular_values)) - len(s))) for s in singular_values])
    for j in range(values.shape[1]):
        left.plot(radii, values[:, j], "o-", color=COLORS[j % len(COLORS)], ms=3, lw=1.2)
    label(left, "nuclear-norm radius R", "singular values of A", "A gains rank as R grows")
    right.plot(radii, 100 * np.asarray(train_errors), "o-", color=PALETTE["blue"], label="train")
    right.plot(radii, 100 * np.asarray(test_errors), "s-", color=PALETTE["orange"], label="test")
    label(right, "nuclear-norm radius R", "error (%)", "Error falls as the ball grows")
    for ax in axes:
        if bound is not None:
            ax.axvline(bound, color=PALETTE["black"], ls=":", lw=1)
    right.legend()


def draw_singular_values(ax, singular_values, title: str = "Singular values of A") -> None:
    s = np.sort(np.asarray(singular_values, dtype=float))[::-1]
    ax.bar(np.arange(1, len(s) + 1), s, color=PALETTE["blue"])
    label(ax, "index i", r"$\sigma_i(A)$", title)
