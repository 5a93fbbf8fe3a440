"""Interactive loss-landscape figure: pick a model, a direction seed and a range, see the surface."""

from __future__ import annotations

import functools

from .. import landscape, plotting
from ..plotting import landscape as landscape_plots
from . import interactive_figure, static

__all__ = ["landscape_explorer", "landscape_twin", "landscape_records"]


def landscape_explorer(models: dict, X, y, steps: int = 25, log: bool = True):
    """A widget drawing the filter-normalised 2-D slice (:func:`lecturelib.landscape.plane`) of
    ``models[name]`` on ``X, y`` for a chosen direction seed and half-width of the range, as a
    filled contour beside a 3-D surface (:mod:`lecturelib.plotting.landscape`).

    ``models`` maps display names to trained networks (keep them small: every change of a
    control evaluates ``steps * steps`` points).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict name -> torch.nn.Module")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 3 <= steps <= 101:
        raise ValueError(f"steps must be an int in [3, 101], got {steps!r}")

    def draw(model, seed, half_width):
        result = landscape.plane(models[model], X, y, steps=steps, span=(-half_width, half_width), seed=seed)
        plotting.use_house_style()
        fig = plt.figure(figsize=(9.0, 3.8))
        flat = fig.add_subplot(1, 2, 1)
        landscape_plots.filled_contour(result, ax=flat, log=log,
                                       title=f"{model}: loss at centre {result.at_origin():.3g}")
        landscape_plots.surface(result, ax=fig.add_subplot(1, 2, 2, projection="3d"), log=log)

    controls = {
        "model": widgets.Dropdown(options=list(models), description="model"),
        "seed": widgets.IntSlider(value=0, min=0, max=20, description="direction seed"),
        "half_width": widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="range ±"),
    }
    return interactive_figure(draw, controls, title="Filter-normalised loss surface")


def landscape_records(models: dict, X, y, steps: int, model, seed, half_width) -> list:
    """What the widget and its twin draw for one setting: the filter-normalised plane
    (:func:`lecturelib.landscape.plane`) of ``models[model]`` with direction seed ``seed`` on
    ``[-half_width, half_width]^2``, and its loss at the centre."""
    result = landscape.plane(models[model], X, y, steps=steps, span=(-half_width, half_width), seed=seed)
    return [static.grid_cells("plane", result.alphas, result.betas, result.loss),
            {"panel": "caption", "text": f"{model}, direction seed {seed}: loss at centre {result.at_origin():.3g}, "
                                         f"largest {result.loss.max():.3g}"}]


def landscape_twin(models: dict, X, y, steps: int = 15, seeds=(0, 1, 2, 3, 4), half_widths=(0.5, 1.0, 2.0)):
    """The live figure of :func:`landscape_explorer` for the static book (:mod:`lecturelib.widgets.static`):
    the plane's filled map (log colour scale) for each model, direction seed and range of the grid."""
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict name -> torch.nn.Module")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 3 <= steps <= 101:
        raise ValueError(f"steps must be an int in [3, 101], got {steps!r}")
    chart = static.heatmap("plane", "α (first direction)", "β (second direction)", "loss (log)", log=True,
                           title="Loss over the plane", width=360, height=360)
    return static.live_twin(functools.partial(landscape_records, models, X, y, steps),
                            {"model": list(models), "seed": list(seeds), "half_width": list(half_widths)},
                            static.with_caption(chart, width=420),
                            labels={"seed": "direction seed", "half_width": "range ±"},
                            start={"half_width": 1.0 if 1.0 in half_widths else half_widths[0]})
