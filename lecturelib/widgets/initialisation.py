r"""Widgets of the initialisation chapter.

:func:`activation_histogram_widget`: weight scale, activation and depth -> the per-layer
activation histograms of the lecture's bias-free network (Glorot & Bengio 2010), measured by
:func:`lecturelib.init.activation_statistics` and drawn by
:func:`lecturelib.plotting.layers.plot_layer_histograms`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import init, plotting
from .._checks import check_int, check_seed
from ..plotting.layers import plot_layer_histograms
from . import interactive_figure

__all__ = ["activation_histogram_widget"]


def activation_histogram_widget(n_samples: int = 500, width: int = 500, seed: int = 0):
    """Sliders for the weight scale (std of a Gaussian), the activation and the depth, drawing
    the per-layer activation histograms of :func:`lecturelib.init.activation_statistics` on
    unit-Gaussian inputs of shape ``(n_samples, width)``.

    The title gives :math:`\\text{scale}\\cdot\\sqrt{\\text{fan\\_in}}`: 1 is Xavier (LeCun) and
    :math:`\\sqrt2` is He initialisation.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_int("n_samples", n_samples, minimum=2)
    check_int("width", width, minimum=1)
    X = torch.randn(n_samples, width, generator=torch.Generator().manual_seed(check_seed("seed", seed)))

    def draw(scale, activation, depth):
        records = init.activation_statistics(X, depth, width, activation, float(scale), seed=seed,
                                             keep_values=True)
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
