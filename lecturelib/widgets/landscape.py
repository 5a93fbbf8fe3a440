"""Interactive loss-landscape figure: pick a model, a direction seed and a range, see the surface."""

from __future__ import annotations

from .. import landscape, plotting
from ..plotting import landscape as landscape_plots
from . import interactive_figure

__all__ = ["landscape_explorer"]


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
