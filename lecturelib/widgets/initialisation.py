r"""Widgets of the initialisation chapter.

:func:`activation_histogram_widget`: weight scale, activation and depth -> the per-layer
activation histograms of the lecture's bias-free network (Glorot & Bengio 2010), measured by
:func:`lecturelib.init.activation_statistics` and drawn by
:func:`lecturelib.plotting.layers.plot_layer_histograms`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .. import init, plotting
from .._checks import check_int, check_seed, check_type
from ..plotting.layers import plot_layer_histograms
from . import interactive_figure, static

__all__ = ["activation_histogram_widget", "activation_histogram_twin", "layer_records", "histogram_records"]


def _inputs(n_samples: int, width: int, seed: int) -> torch.Tensor:
    check_int("n_samples", n_samples, minimum=2)
    check_int("width", width, minimum=1)
    return torch.randn(n_samples, width, generator=torch.Generator().manual_seed(check_seed("seed", seed)))


def layer_records(X: torch.Tensor, scale, activation, depth, seed: int = 0):
    """What the widget and its twin draw: :func:`lecturelib.init.activation_statistics` of ``X``
    through ``depth`` bias-free layers of ``X``'s width, weights of std ``scale``, with the values."""
    return init.activation_statistics(X, depth, X.shape[1], activation, float(scale), seed=seed, keep_values=True)


def histogram_records(layers, scale, activation, bins: int = 30) -> list:
    """Records of the twin for ``layers`` (:func:`layer_records`): each layer's density histogram on
    the widget's range, and the caption."""
    low = 0.0 if activation in ("relu", "sigmoid") else -1.0
    records = []
    for record in layers:
        density, edges = np.histogram(record.activations.flatten().numpy(), bins=bins, range=(low, 1.0), density=True)
        records.append({"panel": "hist", "layer": f"layer {record.layer}: std {record.std:.2g}",
                        "x": (edges[:-1] + edges[1:]) / 2, "y": density})
    gain = scale * math.sqrt(layers[0].activations.shape[1])
    return records + [{"panel": "caption", "text": f"{activation}, weight std {scale:.3g} (= {gain:.2f}/sqrt(fan_in))"}]


def activation_histogram_twin(n_samples: int = 500, width: int = 500, seed: int = 0,
                              gains=(0.5, 1.0, math.sqrt(2), 2.0), depths=(2, 4, 6, 8, 10)):
    """The live figure of :func:`activation_histogram_widget` for the static book
    (:mod:`lecturelib.widgets.static`): weight std ``gain / sqrt(width)`` for each of ``gains``.

    Layer ``l`` of a deeper network is layer ``l`` of a shallower one (the weights are drawn input
    side first, from one seeded generator), so each scale and activation is measured once, at the
    largest depth, and a depth shows its first layers."""
    X = _inputs(n_samples, width, seed)
    check_type("depths", depths, (tuple, list), "a tuple of depths")
    scales = [float(f"{gain / math.sqrt(width):.4g}") for gain in gains]
    deepest = functools.lru_cache(maxsize=None)(
        lambda scale, activation: layer_records(X, scale, activation, max(depths), seed))

    def compute(scale, activation, depth):
        return histogram_records(deepest(scale, activation)[:depth], scale, activation)

    chart = static.view("hist", {"type": "area", "interpolate": "step", "opacity": 0.85}, "activation h",
                        "density", color=None, width=150, height=90,
                        encoding={"facet": {"field": "layer", "type": "nominal", "title": None, "sort": None,
                                            "columns": 5}})
    return static.live_twin(compute, {"scale": scales, "activation": ["tanh", "relu", "sigmoid"],
                                      "depth": list(depths)},
                            static.with_caption(chart, width=800) | {"resolve": {"scale": {"y": "independent"}}},
                            labels={"scale": "weight std"}, digits=3,
                            start={"scale": scales[list(gains).index(1.0)] if 1.0 in gains else scales[0],
                                   "depth": 6 if 6 in depths else depths[0]})


def activation_histogram_widget(n_samples: int = 500, width: int = 500, seed: int = 0):
    """Sliders for the weight scale (std of a Gaussian), the activation and the depth, drawing
    the per-layer activation histograms of :func:`lecturelib.init.activation_statistics` on
    unit-Gaussian inputs of shape ``(n_samples, width)``.

    The title gives :math:`\\text{scale}\\cdot\\sqrt{\\text{fan\\_in}}`: 1 is Xavier (LeCun) and
    :math:`\\sqrt2` is He initialisation.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    X = _inputs(n_samples, width, seed)

    def draw(scale, activation, depth):
        records = layer_records(X, scale, activation, depth, seed)
        columns = min(depth, 5)
        rows = math.ceil(depth / columns)
        fig, axes = plotting.subplots(rows, columns, width=2.2 * columns + 0.4, height=2.1 * rows + 0.5,
                                      squeeze=False)
        low = 0.0 if activation in ("relu", "sigmoid") else -1.0
        plot_layer_histograms(axes, records, value_range=(low, 1.0))
        for ax in np.ravel(axes)[depth:]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("activation h")
        gain = scale * math.sqrt(width)
        last = records[-1]
        fig.suptitle(f"{activation}, weight std {scale:.3g} (= {gain:.2f}/sqrt(fan_in)): "
                     f"layer {depth} std {last.std:.2g}", fontsize=11)
        plt.show()

    controls = {
        "scale": widgets.FloatLogSlider(value=1 / math.sqrt(width), base=10, min=-3, max=1, step=0.05,
                                        description="weight std", readout_format=".3g"),
        "activation": widgets.Dropdown(options=["tanh", "relu", "sigmoid"], value="tanh", description="activation"),
        "depth": widgets.IntSlider(value=6, min=1, max=10, description="depth"),
    }
    return interactive_figure(draw, controls, title="Per-layer activations of a bias-free network")
