r"""Figures of loss landscapes in the house style (Li et al. 2018, figs. 1-6).

A plane result holds ``loss[i, j]`` at ``(alphas[i], betas[j])``; every function here draws
:math:`\alpha` on the horizontal axis and :math:`\beta` on the vertical one (matplotlib wants
``Z[row=beta, column=alpha]``, hence the transposes).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from .._checks import check_int, check_real, check_type
from ..landscape import LandscapeResult
from . import style

__all__ = ["contour", "filled_contour", "surface", "curves", "contour_levels"]


def _check_plane(result):
    check_type("result", result, LandscapeResult, "a LandscapeResult")
    if not result.is_plane:
        raise ValueError("result is a 1-D slice (betas is None); use curves() for lines and interpolations")


def _values(result, log):
    z = np.asarray(result.loss, dtype=np.float64)
    return np.log10(np.maximum(z, 1e-12)) if log else z


def _few_ticks(ax, axes: str = "xy", count: int = 5) -> None:
    """At most ``count`` ticks per axis, so tick labels never run into each other in a grid."""
    for name in axes:
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(count - 1))


def contour_levels(values: np.ndarray, count: int = 12, origin_value: float | None = None) -> np.ndarray:
    """``count`` increasing levels between the smallest value (or ``origin_value``) and the
    95th percentile, so one steep corner does not squeeze every contour into the minimum."""
    check_int("count", count, minimum=2)
    values = np.asarray(values, dtype=np.float64)
    low = float(np.nanmin(values)) if origin_value is None else float(origin_value)
    high = float(np.nanpercentile(values, 95))
    if not high > low:
        high = low + 1e-6
    return np.linspace(low, high, count + 1)[1:]


def contour(result: LandscapeResult, ax=None, levels: int = 12, log: bool = False, title: str | None = None,
            xlabel: str = r"$\alpha$ (direction 1)", ylabel: str = r"$\beta$ (direction 2)", fmt: str = "%.3g"):
    """Contour lines of the loss with labelled levels; the trained point (0, 0) is marked."""
    _check_plane(result)
    if ax is None:
        _, ax = style.subplots()
    z = _values(result, log)
    lines = ax.contour(result.alphas, result.betas, z.T, levels=contour_levels(z, levels), cmap=style.SEQUENTIAL_CMAP,
                       linewidths=1.0)
    ax.clabel(lines, inline=True, fontsize=style.SMALLEST_TEXT, fmt=fmt)
    ax.plot([0], [0], marker="*", color=style.PALETTE["vermillion"], markersize=9, linestyle="none")
    ax.set_aspect("auto")
    _few_ticks(ax)
    style.label(ax, xlabel, ylabel, title)
    return ax


def filled_contour(result: LandscapeResult, ax=None, levels: int = 20, log: bool = False,
                   title: str | None = None, xlabel: str = r"$\alpha$ (direction 1)",
                   ylabel: str = r"$\beta$ (direction 2)", colorbar_label: str = "loss"):
    """Filled contours of the loss (``log10`` of it with ``log=True``) with a colour bar."""
    _check_plane(result)
    if ax is None:
        _, ax = style.subplots()
    z = _values(result, log)
    filled = ax.contourf(result.alphas, result.betas, z.T, levels=levels, cmap=style.SEQUENTIAL_CMAP)
    bar = ax.figure.colorbar(filled, ax=ax, label=("log10 " if log else "") + colorbar_label)
    bar.locator = MaxNLocator(5)
    bar.update_ticks()
    ax.plot([0], [0], marker="*", color=style.PALETTE["vermillion"], markersize=9, linestyle="none")
    _few_ticks(ax)
    style.label(ax, xlabel, ylabel, title)
    return ax


def surface(result: LandscapeResult, ax=None, log: bool = False, clip: float | None = None,
            title: str | None = None, zlabel: str = "loss"):
    """A 3-D surface of the loss; ``clip`` caps values (Li et al. cap their plots) to keep detail."""
    _check_plane(result)
    import matplotlib.pyplot as plt

    if ax is None:
        style.use_house_style()
        fig = plt.figure(figsize=(4.6, 3.8))
        ax = fig.add_subplot(projection="3d")
    if not hasattr(ax, "plot_surface"):
        raise ValueError("ax must be a 3-D axis: fig.add_subplot(projection='3d')")
    z = _values(result, log)
    if clip is not None:
        z = np.minimum(z, check_real("clip", clip))
    a, b = np.meshgrid(result.alphas, result.betas, indexing="ij")  # both (n_alpha, n_beta), like z
    ax.plot_surface(a, b, z, cmap=style.SEQUENTIAL_CMAP, linewidth=0, antialiased=True, rstride=1, cstride=1)
    _few_ticks(ax, "xyz", count=5)
    ax.tick_params(pad=0)
    ax.set_xlabel(r"$\alpha$", labelpad=2)
    ax.set_ylabel(r"$\beta$", labelpad=2)
    ax.set_zlabel(("log10 " if log else "") + zlabel, labelpad=6)
    if title:
        ax.set_title(title)
    return ax


def curves(results: dict, ax=None, title: str | None = None, xlabel: str = r"$\alpha$",
           loss_label: str = "loss", log: bool = False, accuracy: bool = True, legend: bool = True):
    """1-D slices: loss on the left axis (solid train, dashed test), accuracy on a twin right axis.

    ``results`` maps a label (e.g. ``"train"``, ``"test"``) to a 1-D :class:`LandscapeResult`;
    labels containing ``"test"`` are dashed. The legend is drawn on the twin axis when there is
    one (above its curves); ``legend=False`` leaves it out. Returns ``(ax, ax_accuracy)`` (the
    second is ``None`` when no result has accuracy or ``accuracy=False``).
    """
    if not isinstance(results, dict) or not results:
        raise TypeError("results must be a non-empty dict label -> 1-D LandscapeResult")
    for name, result in results.items():
        if not isinstance(result, LandscapeResult) or result.is_plane:
            raise TypeError(f"results[{name!r}] must be a 1-D LandscapeResult")
    if ax is None:
        _, ax = style.subplots(width=5.0)
    twin = None
    for name, result in results.items():
        dash = "--" if "test" in name else "-"
        ax.plot(result.alphas, result.loss, dash, color=style.PALETTE["blue"], label=f"{name} loss")
        if accuracy and result.accuracy is not None:
            twin = twin or ax.twinx()
            twin.plot(result.alphas, 100 * result.accuracy, dash, color=style.PALETTE["vermillion"],
                      label=f"{name} accuracy")
    if log:
        ax.set_yscale("log")
    style.label(ax, xlabel, loss_label, title)
    _few_ticks(ax, "x")
    ax.yaxis.label.set_color(style.PALETTE["blue"])
    handles, names = ax.get_legend_handles_labels()
    if twin is not None:
        twin.set_ylabel("accuracy (%)", color=style.PALETTE["vermillion"])
        twin.spines["right"].set_visible(True)
        twin.grid(False)
        more_handles, more_names = twin.get_legend_handles_labels()
        handles, names = handles + more_handles, names + more_names
    if legend:  # on the top axis (the twin), framed, so no curve is drawn over it
        (twin or ax).legend(handles, names, loc="best", frameon=True, framealpha=0.9, edgecolor="none")
    return ax, twin
