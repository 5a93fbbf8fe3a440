"""The book's one plot style: every figure calls :func:`use_house_style` (via :func:`subplots`).

Colours are the Okabe & Ito (2008) palette, distinguishable with the common forms of colour
blindness; continuous quantities use ``viridis``. Axes carry labels with units; titles state
the finding ("He initialisation keeps the std constant"), not the content ("std per layer").

Figures are shown scaled to the book's content column, :data:`COLUMN_PX` CSS px wide, so a
figure's text shrinks by ``COLUMN_PX / (figure width in px)`` when the figure is wider than the
column. The smallest text is :data:`SMALLEST_TEXT` pt; :func:`subplots` caps the width at
:data:`MAX_WIDTH` inches, which keeps that text at least 9 CSS px tall in the column
(:mod:`~lecturelib.plotting.readability` measures it).
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler

from .._checks import check_int, check_positive

__all__ = ["PALETTE", "COLORS", "SEQUENTIAL_CMAP", "COLUMN_PX", "MAX_WIDTH", "SMALLEST_TEXT", "use_house_style",
           "subplots", "label", "plot_history", "color_for"]

# Okabe & Ito's colour-blind-safe palette, in the order lines are drawn.
PALETTE = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
    "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000",
}
COLORS = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]
SEQUENTIAL_CMAP = "viridis"

#: Width in CSS px of the content column of the built book on a 1280-px-wide desktop
#: (sphinx-book-theme 1.3.0; 790 px from 1440 px up, 358 px on a 390-px phone).
COLUMN_PX = 688
#: The smallest font size (pt) of the house style: tick labels, legends, contour labels.
SMALLEST_TEXT = 10
#: The widest figure (inches) whose smallest text is still >= 9 CSS px in the column:
#: 10 pt * 100 dpi / 72 * 688 / (10 in * 100 dpi + the tight bounding box's margin) = 9.5 px.
MAX_WIDTH = 10.0

_STYLE = {
    "axes.prop_cycle": cycler(color=COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "font.size": SMALLEST_TEXT,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "axes.labelsize": 11,
    "xtick.labelsize": SMALLEST_TEXT,
    "ytick.labelsize": SMALLEST_TEXT,
    "legend.fontsize": SMALLEST_TEXT,
    "legend.title_fontsize": SMALLEST_TEXT,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "figure.dpi": 100,
    "figure.facecolor": "white",  # opaque: the theme's dark mode keeps a white figure readable
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
    """``plt.subplots`` in the house style; the default size is 4 x 3.2 inches per panel, at most
    :data:`MAX_WIDTH` inches wide.

    A ``width`` over :data:`MAX_WIDTH` is capped (and ``height`` shrunk in proportion), so the
    figure's smallest text stays legible at the column width; a wider grid should be split.
    """
    check_int("nrows", nrows, minimum=1)
    check_int("ncols", ncols, minimum=1)
    use_house_style()
    width = check_positive("width", width) if width is not None else min(4.0 * ncols, MAX_WIDTH)
    height = check_positive("height", height) if height is not None else 3.2 * nrows
    shrink = min(1.0, MAX_WIDTH / width)
    return plt.subplots(nrows, ncols, figsize=(width * shrink, height * shrink), **kwargs)


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
