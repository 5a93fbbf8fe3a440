r"""Figures of optimiser trajectories on the test functions of :mod:`lecturelib.optim.functions`.

* :func:`plot_contours`: contour lines of a 2-D :class:`~lecturelib.optim.TestFunction` over its
  domain, its minima (stars) and saddle points (crosses).
* :func:`plot_trajectories`: the iterates :math:`x_0, x_1, \dots` of several optimisers over those
  contours, one colour per optimiser (the same colour for the same name in every figure).
* :func:`plot_values`: :math:`f(x_t) - f^\star` against the step :math:`t`, on a log scale.
* :func:`plot_basins`: a 1-D function with a row of starts, each coloured by the minimum gradient
  descent reaches from it (its basin of attraction).

The functions draw what they are handed (trajectories are computed by the chapter's experiments);
the only evaluation they do is of the closed-form test function on a grid, to draw it.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_int, check_type
from ..optim.functions import TestFunction
from . import style

__all__ = ["OPTIMISER_COLORS", "optimiser_color", "plot_contours", "plot_trajectories", "plot_values",
           "plot_basins", "as_points"]

#: one colour per optimiser name, so that a name has the same colour in every figure of the chapter
OPTIMISER_COLORS = {
    "GD": style.PALETTE["black"], "SGD": style.PALETTE["black"], "momentum": style.PALETTE["blue"],
    "Nesterov": style.PALETTE["orange"], "AdaGrad": style.PALETTE["green"], "RMSProp": style.PALETTE["purple"],
    "Adam": style.PALETTE["vermillion"], "AdamW": style.PALETTE["sky"],
}
_EXTRA = [style.PALETTE[k] for k in ("sky", "vermillion", "green", "purple", "blue", "orange")]


def optimiser_color(name: str, index: int = 0) -> str:
    """The colour of optimiser ``name``: :data:`OPTIMISER_COLORS`, else a palette colour by ``index``."""
    return OPTIMISER_COLORS.get(name, _EXTRA[check_int("index", index) % len(_EXTRA)])


def as_points(trajectory) -> np.ndarray:
    """The iterates of ``trajectory`` (a :class:`~lecturelib.optim.Trajectory`, a tensor or an array)
    as a float64 array of shape ``(T, d)``."""
    points = getattr(trajectory, "points", trajectory)
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().double().numpy()
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"a trajectory must hold points of shape (T, d), got shape {points.shape}")
    return points


def _values(trajectory, function: TestFunction | None) -> np.ndarray:
    values = getattr(trajectory, "values", None)
    if values is None:
        if function is None:
            raise ValueError("a bare array of points has no values; pass the function, or a Trajectory")
        values = function(torch.as_tensor(as_points(trajectory)))
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def _check_trajectories(trajectories) -> None:
    if not isinstance(trajectories, dict) or not trajectories:
        raise TypeError(f"trajectories must be a non-empty dict of name -> Trajectory (or (T, d) points), "
                        f"got {type(trajectories).__name__}")


def plot_contours(ax, function: TestFunction, domain=None, levels: int = 24, resolution: int = 160):
    """Contour lines of the 2-D ``function`` over ``domain`` (default: the function's own box).

    The levels are quantiles of the function's values on the grid, so that flat regions and steep
    walls both get lines, whatever the function's range. Minima are drawn as stars, saddle points
    as crosses. Returns ``ax``.
    """
    check_type("function", function, TestFunction, "a lecturelib.optim.TestFunction")
    if function.dim != 2:
        raise ValueError(f"plot_contours draws 2-D functions; {function.name} has {function.dim} coordinates "
                         "(use plot_basins for 1-D ones)")
    check_int("levels", levels, minimum=2)
    check_int("resolution", resolution, minimum=10)
    (x0, x1), (y0, y1) = domain if domain is not None else function.domain
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    grid = torch.as_tensor(np.stack(np.meshgrid(xs, ys), axis=-1), dtype=torch.float64)
    values = function(grid).numpy()
    quantiles = np.unique(np.quantile(values, np.linspace(0.0, 1.0, levels + 2)[1:-1]))
    ax.contour(xs, ys, values, levels=quantiles, cmap=style.SEQUENTIAL_CMAP, linewidths=0.8, alpha=0.8)
    for point in function.minima:
        ax.plot(*point, marker="*", color="black", markersize=12, linestyle="none")
    for point in function.saddles:
        ax.plot(*point, marker="X", color="black", markersize=8, linestyle="none")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return ax


def plot_trajectories(ax, function: TestFunction, trajectories: dict, domain=None, title: str | None = None,
                      levels: int = 24, legend: bool = True):
    """The iterates of each trajectory (name -> Trajectory or ``(T, 2)`` points) over ``function``'s contours.

    Each path starts at a circle and ends at a square; points that leave the domain are clipped
    by the axes. Returns ``ax``.
    """
    _check_trajectories(trajectories)
    plot_contours(ax, function, domain=domain, levels=levels)
    for index, (name, trajectory) in enumerate(trajectories.items()):
        points = as_points(trajectory)
        if points.shape[1] != 2:
            raise ValueError(f"trajectories[{name!r}] must have 2-D points, got shape {points.shape}")
        color = optimiser_color(name, index)
        ax.plot(points[:, 0], points[:, 1], color=color, linewidth=1.6, marker=".", markersize=3, label=name)
        ax.plot(*points[0], marker="o", color=color, markersize=7, markeredgecolor="white")
        ax.plot(*points[-1], marker="s", color=color, markersize=6, markeredgecolor="white")
    style.label(ax, "$x$ (first coordinate)", "$y$ (second coordinate)", title)
    if legend:
        ax.legend(loc="lower right")
    return ax


def plot_values(ax, trajectories: dict, function: TestFunction | None = None, minimum: float | None = None,
                title: str | None = None, floor: float = 1e-16):
    r""":math:`f(x_t) - f^\star` against the step for each trajectory, on a log scale.

    ``minimum`` is :math:`f^\star`: by default the lowest value of ``function`` at its minima, else 0.
    Gaps below ``floor`` are drawn at ``floor``. Returns ``ax``.
    """
    _check_trajectories(trajectories)
    if minimum is None:
        minimum = 0.0
        if function is not None and function.minima:
            minimum = float(function(torch.tensor(function.minima, dtype=torch.float64)).min())
    for index, (name, trajectory) in enumerate(trajectories.items()):
        gap = np.maximum(_values(trajectory, function) - minimum, floor)
        ax.plot(np.arange(len(gap)), gap, color=optimiser_color(name, index), label=name)
    ax.set_yscale("log")
    style.label(ax, "step $t$", r"$f(x_t) - f^\star$", title)
    ax.legend()
    return ax


def plot_basins(ax, function: TestFunction, starts, limits, title: str | None = None, resolution: int = 400):
    """A 1-D ``function`` with ``starts`` (shape ``(n,)``) drawn on its curve, coloured by ``limits``:
    for each start the index into ``function.minima`` of the minimum it reached (-1: none).

    The minima are marked with stars in their basin's colour. Returns ``ax``.
    """
    check_type("function", function, TestFunction, "a lecturelib.optim.TestFunction")
    if function.dim != 1:
        raise ValueError(f"plot_basins draws 1-D functions; {function.name} has {function.dim} coordinates")
    starts = as_points(starts)[:, 0]
    limits = np.asarray(limits)
    if limits.shape != starts.shape:
        raise ValueError(f"limits must hold one minimum index per start ({starts.shape}), got shape {limits.shape}")
    (x0, x1), = function.domain
    xs = np.linspace(min(x0, starts.min()), max(x1, starts.max()), resolution)
    curve = function(torch.as_tensor(xs[:, None], dtype=torch.float64)).numpy()
    ax.plot(xs, curve, color="0.4", linewidth=1.2, zorder=1)
    at_starts = function(torch.as_tensor(starts[:, None], dtype=torch.float64)).numpy()
    for k, minimum in enumerate(function.minima):
        chosen = limits == k
        color = style.color_for(k)
        ax.scatter(starts[chosen], at_starts[chosen], color=color, s=14, zorder=2,
                   label=f"reaches $x = {minimum[0]:g}$")
        value = function(torch.tensor([minimum], dtype=torch.float64)).item()
        ax.plot(minimum[0], value, marker="*", color=color, markersize=14, markeredgecolor="black", zorder=3)
    if (limits < 0).any():
        ax.scatter(starts[limits < 0], at_starts[limits < 0], color="0.6", s=14, zorder=2, label="no minimum")
    for point in function.maxima:
        ax.axvline(point[0], color="0.5", linestyle=":", linewidth=0.9)
    style.label(ax, "$x$ (start and parameter)", "$f(x)$ (loss)", title)
    ax.legend()
    return ax
