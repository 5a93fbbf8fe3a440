"""The book's one plot style: every figure calls :func:`use_house_style` (via :func:`subplots`).

Colours are the Okabe & Ito (2008) palette, distinguishable with the common forms of colour
blindness; continuous quantities use ``viridis``. Axes carry labels with units; titles state
the finding ("He initialisation keeps the std constant"), not the content ("std per layer").
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler

from .._checks import check_int, check_positive

__all__ = ["PALETTE", "COLORS", "SEQUENTIAL_CMAP", "use_house_style", "subplots", "label", "plot_history",
           "color_for"]

# Okabe & Ito's colour-blind-safe palette, in the order lines are drawn.
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
COLORS = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
SEQUENTIAL_CMAP = "viridis"

_STYLE = {
    "axes.prop_cycle": cycler(color=COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.constrained_layout.use": True,
    "image.cmap": SEQUENTIAL_CMAP,
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
}


def use_house_style() -> None:
    """Apply the book's matplotlib settings (idempotent)."""
    mpl.rcParams.update(_STYLE)


def color_for(index: int) -> str:
    """The ``index``-th palette colour (cycling), for drawing matched series across panels."""
    return COLORS[check_int("index", index) % len(COLORS)]


def subplots(nrows: int = 1, ncols: int = 1, width: float | None = None, height: float | None = None, **kwargs):
    """``plt.subplots`` in the house style; the default size is 4 x 3.2 inches per panel."""
    check_int("nrows", nrows, minimum=1)
    check_int("ncols", ncols, minimum=1)
    use_house_style()
    width = check_positive("width", width) if width is not None else min(4.0 * ncols, 12.0)
    height = check_positive("height", height) if height is not None else 3.2 * nrows
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)


def label(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Label both axes (give units, e.g. ``"epoch"``, ``"loss (MSE)"``) and set a finding title."""
    if not xlabel or not ylabel:
        raise ValueError("both xlabel and ylabel must be non-empty strings: every axis gets a label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def plot_history(history, ax=None, metric: str = "loss", label_prefix: str = "", color=None, log: bool = None):
    """Draw train (solid) and test (dashed) ``metric`` (``"loss"`` or ``"accuracy"``) per epoch."""
    if metric not in ("loss", "accuracy"):
        raise ValueError(f"metric must be 'loss' or 'accuracy', got {metric!r}")
    train = getattr(history, f"train_{metric}")
    test = getattr(history, f"test_{metric}")
    if not train:
        raise ValueError(f"this history has no {metric} (regression runs record no accuracy)")
    if ax is None:
        _, ax = subplots()
    prefix = f"{label_prefix} " if label_prefix else ""
    line, = ax.plot(history.epoch, train, color=color, label=f"{prefix}train")
    ax.plot(history.epoch, test, color=line.get_color(), linestyle="--", label=f"{prefix}test")
    if log if log is not None else metric == "loss":
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend()
    return ax
