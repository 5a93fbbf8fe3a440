r"""Widget of the chapter *Vanishing and exploding gradients*: depth, activation, weight scale -> per-layer gradient norms.

The controls choose a random network (:math:`(W_j)_{ik} \sim N(0, s^2/n_j)`); the figure shows the
measured :math:`\|\delta_j\|_2` against the layer index with the lecture's backward bound
:math:`\|\delta_{n+1}\|\prod_{i \ge j} c_i`. The measurement is handed in
(:func:`lecturelib.experiments.vanishing.gradient_norm_profile`), the figure is
:func:`lecturelib.plotting.gradients.draw_gradient_norms`.
"""

from __future__ import annotations

import functools

import torch

from .._checks import check_callable, check_choice, check_int, check_real, check_type
from ..plotting import label, subplots
from ..plotting.gradients import draw_gradient_norms
from . import interactive_figure, static

__all__ = ["gradient_norm_explorer", "gradient_norm_twin", "gradient_norm_records", "WIDGET_ACTIVATIONS"]

WIDGET_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")


def gradient_norm_explorer(profile, max_depth: int = 60, depth: int = 20, activation: str = "sigmoid",
                           weight_scale: float = 1.0, residual: bool = False):
    """Sliders for depth and weight scale, a menu of activations and a residual switch (starting at
    the given values); each change draws ``profile(depth, activation, weight_scale, residual) ->
    (measured, bounds)``, the per-layer gradient norms of a fresh random network and the lecture's
    bound, e.g. ``experiments.vanishing.gradient_norm_profile``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_callable("profile", profile)
    check_int("max_depth", max_depth, minimum=3)
    check_int("depth", depth, minimum=2, maximum=max_depth)
    check_choice("activation", activation, WIDGET_ACTIVATIONS)
    check_real("weight_scale", weight_scale, minimum=0.25, maximum=4.0)
    check_type("residual", residual, bool, "True or False")

    def draw(depth, activation, weight_scale, residual):
        measured, bounds = profile(depth, activation, weight_scale, residual)
        fig, ax = subplots(width=7, height=3.6)
        name = f"{activation}, s={weight_scale:g}{' residual' if residual else ''}"
        draw_gradient_norms(ax, measured, bounds, label=name)
        ratio = float(measured[0] / measured[-1])
        label(ax, "layer j (1 = input, n+1 = output)", r"mean $\|\delta_j\|_2$ (log scale)",
              f"input-layer gradient is {ratio:.2g} x the output one")
        ax.legend(loc="best")
        plt.show()

    controls = {
        "depth": widgets.IntSlider(value=depth, min=2, max=max_depth, step=1, description="depth n"),
        "activation": widgets.Dropdown(options=list(WIDGET_ACTIVATIONS), value=activation, description="σ"),
        "weight_scale": widgets.FloatLogSlider(value=float(weight_scale), base=2, min=-2, max=2, step=0.25,
                                               description="weight scale"),
        "residual": widgets.Checkbox(value=residual, description="residual"),
    }
    return interactive_figure(draw, controls, title="Per-layer gradient norms of a random network")


TWIN_DEPTHS = (10, 20, 30, 40, 50, 60)
TWIN_WEIGHT_SCALES = (0.5, 1.0, 2.0)


def gradient_norm_records(profile, depth, activation, weight_scale, residual) -> list:
    """What the widget and its twin show for one setting: ``profile``'s measured norms and bound per layer."""
    measured, bounds = (torch.as_tensor(v).double().clamp_min(1e-300) for v in
                        profile(depth, activation, weight_scale, residual))
    layers = list(range(1, len(measured) + 1))
    ratio = float(measured[0] / measured[-1])
    return [{"panel": "norms", "series": "measured ||δj||", "x": layers, "y": measured},
            {"panel": "norms", "series": "the lecture's bound", "x": layers, "y": bounds},
            {"panel": "caption", "text": f"{activation}, s={weight_scale:g}{' residual' if residual else ''}: "
                                         f"input-layer gradient is {ratio:.2g} x the output one"}]


def gradient_norm_twin(profile, depths=TWIN_DEPTHS, weight_scales=TWIN_WEIGHT_SCALES, depth: int = 20,
                       activation: str = "sigmoid", weight_scale: float = 1.0, residual: bool = False):
    """The live figure of :func:`gradient_norm_explorer` for the static book (:mod:`lecturelib.widgets.static`):
    ``profile`` at every depth, activation, weight scale and residual switch of the grid, starting at
    the given values (those of the grid nearest them)."""
    check_callable("profile", profile)
    check_choice("activation", activation, WIDGET_ACTIVATIONS)
    check_type("residual", residual, bool, "True or False")
    start = {"depth": min(depths, key=lambda d: abs(d - depth)), "activation": activation, "residual": residual,
             "weight_scale": min(weight_scales, key=lambda s: abs(s - weight_scale))}
    chart = static.view("norms", {"type": "line", "point": True}, "layer j (1 = input, n+1 = output)",
                        "mean ||δj||₂ (log scale)", log_y=True, width=560, height=300,
                        encoding={"strokeDash": {"field": "series", "type": "nominal", "title": None}})
    return static.live_twin(functools.partial(gradient_norm_records, profile),
                            {"depth": list(depths), "activation": list(WIDGET_ACTIVATIONS),
                             "weight_scale": list(weight_scales), "residual": [False, True]},
                            static.with_caption(chart, width=560),
                            labels={"depth": "depth n", "activation": "σ", "weight_scale": "weight scale"},
                            start=start)
