r"""The widget of the topology chapter: sublevel sets :math:`\Omega_L(\lambda)` and their components.

:func:`sublevel_widget`: a menu of two-parameter losses and a slider for the level :math:`\lambda`; shows
the sublevel set with each connected component in its own colour and :math:`N_\lambda` in the title
(Freeman & Bruna 2016). It is handed the grids and their labellings
(:func:`lecturelib.experiments.topology.sublevel.sublevel_panels`) and only redraws them with
:func:`lecturelib.plotting.topology.draw_sublevel_set`.
"""

from __future__ import annotations

import numpy as np

from .. import plotting
from ..plotting.topology import draw_sublevel_set
from . import interactive_figure

__all__ = ["sublevel_widget"]


def _check(grids, panels):
    if not isinstance(grids, dict) or not grids:
        raise TypeError(f"grids must be a non-empty dict name -> LossGrid, got {type(grids).__name__}")
    if not isinstance(panels, dict) or set(panels) != set(grids):
        raise ValueError("panels must be a dict with the same names as grids, each {level: (labels, count)}")
    for name, grid in grids.items():
        values = getattr(grid, "values", None)
        if not isinstance(values, np.ndarray) or values.ndim != 2 or len(getattr(grid, "axes", ())) != 2:
            raise ValueError(f"grids[{name!r}] must be a 2-D LossGrid (values, axes, names)")
        if not isinstance(panels[name], dict) or not panels[name]:
            raise ValueError(f"panels[{name!r}] must be a non-empty dict level -> (labels, count)")
        for level, (labels, _count) in panels[name].items():
            if np.shape(labels) != values.shape:
                raise ValueError(f"panels[{name!r}][{level}] labels have shape {np.shape(labels)}, "
                                 f"the grid {values.shape}")


def sublevel_widget(grids: dict, panels: dict):
    r"""Widget: pick a loss and a level; see :math:`\{L \le \lambda\}` with its components coloured.

    ``grids`` maps names to 2-D :class:`~lecturelib.experiments.topology.sublevel.LossGrid` s; ``panels[name]``
    maps each level the slider offers for that loss to its ``(labels, count)``. The level slider runs over
    the positions of each loss's sorted levels (the losses may have different level ranges).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    _check(grids, panels)
    names = list(grids)
    sizes = {name: len(panels[name]) for name in names}

    def draw(loss, step):
        levels = sorted(panels[loss])
        level = levels[min(step, len(levels) - 1)]
        labels, count = panels[loss][level]
        grid = grids[loss]
        fig, ax = plotting.subplots(1, 1, width=5.2, height=4.2)
        draw_sublevel_set(ax, grid.values, labels, count, level, grid.axes, grid.names,
                          title=rf"{loss}: $N_\lambda$ = {count} at $\lambda$ = {level:.3g}")
        plt.show()

    controls = {
        "loss": widgets.Dropdown(options=names, value=names[0], description="loss"),
        "step": widgets.IntSlider(min=0, max=max(sizes.values()) - 1, value=min(sizes.values()) // 2,
                                  description="level #"),
    }
    return interactive_figure(draw, controls, title="Sublevel sets and their components")
