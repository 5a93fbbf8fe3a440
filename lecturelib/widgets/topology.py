r"""The widget of the topology chapter: sublevel sets :math:`\Omega_L(\lambda)` and their components.

:func:`sublevel_widget`: a menu of two-parameter losses and a slider for the level :math:`\lambda`; shows
the sublevel set with each connected component in its own colour and :math:`N_\lambda` in the title
(Freeman & Bruna 2016). It is handed the grids and their labellings
(:func:`lecturelib.experiments.topology.sublevel.sublevel_panels`) and only redraws them with
:func:`lecturelib.plotting.topology.draw_sublevel_set`.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import plotting
from .._checks import check_int
from ..plotting.topology import draw_sublevel_set
from . import interactive_figure, static

__all__ = ["sublevel_widget", "sublevel_twin", "sublevel_records"]


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


def _plain(name: str) -> str:
    """An axis name without TeX: ``"$\\theta_1$" -> "θ1"`` (Vega-Lite writes plain text)."""
    return name.replace("$", "").replace("\\theta", "θ").replace("_", "").replace("{", "").replace("}", "")


def sublevel_records(grids: dict, panels: dict, loss, step, every: int = 7) -> list:
    r"""What the widget and its twin show for one loss and level position: the cells of
    :math:`\{L \le \lambda\}` (every ``every``-th grid point) with their component, and the count."""
    levels = sorted(panels[loss])
    level = levels[min(step, len(levels) - 1)]
    labels, count = panels[loss][level]
    grid = grids[loss]
    first, second = (np.asarray(axis, dtype=float)[::every] for axis in grid.axes)
    inside = np.asarray(labels)[::every, ::every]
    i, j = np.nonzero(inside > 0)
    cell = (float(first[1] - first[0]), float(second[1] - second[0]))
    frame = {"panel": "frame", "x": [first[0] - cell[0] / 2], "x2": [first[-1] + cell[0] / 2],
             "y": [second[0] - cell[1] / 2], "y2": [second[-1] + cell[1] / 2]}
    return [frame, {"panel": "set", "x": first[i] - cell[0] / 2, "x2": first[i] + cell[0] / 2,
             "y": second[j] - cell[1] / 2, "y2": second[j] + cell[1] / 2, "component": inside[i, j]},
            {"panel": "caption", "text": f"{loss}: N(λ) = {count} components at λ = {level:.3g}"}]


def sublevel_twin(grids: dict, panels: dict, level_step: int = 2):
    """The live figure of :func:`sublevel_widget` for the static book (:mod:`lecturelib.widgets.static`):
    every ``level_step``-th level of each loss, the sets on a coarser grid."""
    _check(grids, panels)
    check_int("level_step", level_step, minimum=1)
    names = list(grids)
    axis_names = {tuple(grids[name].names) for name in names}
    x_name, y_name = map(_plain, axis_names.pop()) if len(axis_names) == 1 else ("parameter 1", "parameter 2")
    corners = {"x2": {"field": "x2"}, "y2": {"field": "y2"}}
    chart = static.overlay(
        static.view("frame", {"type": "rect", "color": "#888", "opacity": 0.08}, x_name, y_name, color=None,
                    arrays=("x", "x2", "y", "y2"), encoding=corners, width=380, height=380),
        static.view("set", "rect", x_name, y_name, arrays=("x", "x2", "y", "y2", "component"),
                    encoding=corners | {"color": {"field": "component", "type": "nominal", "title": "component"}}))
    steps = list(range(0, min(len(panels[name]) for name in names), level_step))
    return static.live_twin(functools.partial(sublevel_records, grids, panels), {"loss": names, "step": steps},
                            static.with_caption(chart, width=380), labels={"step": "level #"},
                            start={"step": steps[len(steps) // 2]})
