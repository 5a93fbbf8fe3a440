r"""Widgets of the activations chapter: see the function a small network fits, and its kinks.

The explorer must answer a control in well under a second on a laptop, so nothing is trained or
evaluated while it is used: every network it can show was trained beforehand, all at once
(:func:`lecturelib.experiments.activations.train_kink_grid`), and evaluated on a grid with its
kinks located (:func:`lecturelib.experiments.activations.fit_curves`).
"""

from __future__ import annotations

import functools

from .. import piecewise, plotting
from ..data import DataSplit
from ..plotting.fits import draw_fit
from . import interactive_figure, static

__all__ = ["kink_explorer", "kink_twin", "kink_records", "ACTIVATION_LABELS"]

ACTIVATION_LABELS = {"leaky_relu": "LeakyReLU", "relu": "ReLU", "elu": "ELU", "tanh": "tanh", "identity": "identity",
                     "sigmoid": "sigmoid", "prelu": "PReLU", "maxout": "maxout"}


def _title(curve) -> str:
    """E.g. ``"LeakyReLU, 78 parameters: 3 kinks, piecewise affine"``."""
    if curve.activation not in piecewise.PIECEWISE_AFFINE:
        shape = "smooth, no kinks"
    elif curve.activation == "identity":
        shape = "one affine map, no kinks"
    else:
        shape = f"{len(curve.kinks)} kinks, piecewise affine"
    return f"{ACTIVATION_LABELS.get(curve.activation, curve.activation)}, {curve.parameters} parameters: {shape}"


def kink_explorer(curves: dict, data: DataSplit):
    """Dropdowns for activation and width over the curves of
    :func:`lecturelib.experiments.activations.fit_curves` (keys ``(activation, width)``): shows
    the fit and its kinks. It only redraws what it is handed, so it answers at once."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be the non-empty dict returned by experiments.activations.fit_curves")
    names = list(dict.fromkeys(name for name, _ in curves))
    widths = sorted({width for _, width in curves})
    controls = {
        "activation": widgets.Dropdown(options=[(ACTIVATION_LABELS.get(n, n), n) for n in names],
                                       value="leaky_relu" if "leaky_relu" in names else names[0],
                                       description="activation"),
        "width": widgets.SelectionSlider(options=widths, value=5 if 5 in widths else widths[0], description="width"),
    }

    def draw(activation, width):
        curve = curves[(activation, width)]
        _, ax = plotting.subplots(width=6.5, height=3.6)
        draw_fit(ax, curve.grid, curve.outputs, data, kinks=curve.kinks, title=_title(curve), legend=True)
        plt.show()

    return interactive_figure(draw, controls, title="Pick an activation and a width (3 hidden layers of that "
                                                    "width, then 1 unit, then the output)")


def kink_records(curves: dict, data: DataSplit, activation, width) -> list:
    """What the widget and its twin show for one activation and width: the fit (every 5th grid
    point; the kinks are marked exactly), the data, and the caption."""
    curve = curves[(activation, width)]
    return [{"panel": "fit", "series": "network m(x; θ)", "x": static.every(curve.grid[:, 0], 5),
             "y": static.every(curve.outputs[:, 0], 5)},
            {"panel": "kinks", "series": "kink", "x": curve.kinks},
            {"panel": "data", "series": "training data", "x": data.X_train[:, 0], "y": data.y_train[:, 0]},
            {"panel": "caption", "text": _title(curve)}]


def kink_twin(curves: dict, data: DataSplit):
    """The live figure of :func:`kink_explorer` for the static book (:mod:`lecturelib.widgets.static`)."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be the non-empty dict returned by experiments.activations.fit_curves")
    names = list(dict.fromkeys(name for name, _ in curves))
    widths = sorted({width for _, width in curves})
    grid = next(iter(curves.values())).grid[:, 0]
    span = (float(grid.min()), float(grid.max()))  # fixed: a smooth fit has no kinks to draw
    chart = static.overlay(
        static.view("kinks", {"type": "rule", "color": plotting.PALETTE["sky"], "opacity": 0.8}, "input x", "",
                    color=None, arrays=("x",), encoding={"y": None}, x_domain=span, width=560, height=300),
        static.view("fit", {"type": "line", "strokeWidth": 2}, "input x", "output m(x; θ)", x_domain=span),
        static.view("data", {"type": "point", "filled": True, "color": "black"}, "input x", "output m(x; θ)",
                    color=None, x_domain=span))
    return static.live_twin(functools.partial(kink_records, curves, data), {"activation": names, "width": widths},
                            static.with_caption(chart, width=560),
                            start={"activation": "leaky_relu" if "leaky_relu" in names else names[0],
                                   "width": 5 if 5 in widths else widths[0]})
