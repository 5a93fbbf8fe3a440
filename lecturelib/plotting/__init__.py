"""House-style figures of results.

:mod:`~lecturelib.plotting.style` holds the one plot style (palette, :func:`subplots`,
:func:`label`, :func:`plot_history`); the other modules draw one kind of figure each from
results they are handed, and never train or compute what they show.
"""

from .style import COLORS, PALETTE, SEQUENTIAL_CMAP, color_for, label, plot_history, subplots, use_house_style

__all__ = ["PALETTE", "COLORS", "SEQUENTIAL_CMAP", "use_house_style", "subplots", "label", "plot_history",
           "color_for"]
