"""House-style figures of results.

:mod:`~lecturelib.plotting.style` holds the one plot style (palette, :func:`subplots`,
:func:`label`, :func:`plot_history`); the other modules draw one kind of figure each from
results they are handed, and never train or compute what they show:

- :mod:`~lecturelib.plotting.fits`: a network's fit of 1-D data, with its kinks (``draw_fit``);
- :mod:`~lecturelib.plotting.layers`: per-layer histograms and trajectories;
- :mod:`~lecturelib.plotting.gradients`: gradient norms per layer against their bounds;
- :mod:`~lecturelib.plotting.landscape`: contours, surfaces and curves of loss landscapes;
- :mod:`~lecturelib.plotting.paths`: loss and error along paths between minima, and their plane;
- :mod:`~lecturelib.plotting.trajectories`: optimisers' paths over a test function's contours;
- :mod:`~lecturelib.plotting.regularisation`: fits and weight norms under each regulariser;
- :mod:`~lecturelib.plotting.topology`: sublevel sets with their components coloured, and N_λ;
- :mod:`~lecturelib.plotting.convexification`: the rank set and the nuclear-norm ball, objectives, radius sweeps;
- :mod:`~lecturelib.plotting.readability`: how tall a figure's text is in the book's column.
"""

from .style import (COLORS, COLUMN_PX, MAX_WIDTH, PALETTE, SEQUENTIAL_CMAP, SMALLEST_TEXT, color_for, label,
                    plot_history, subplots, use_house_style)

__all__ = ["PALETTE", "COLORS", "SEQUENTIAL_CMAP", "COLUMN_PX", "MAX_WIDTH", "SMALLEST_TEXT", "use_house_style",
           "subplots", "label", "plot_history", "color_for"]
