r"""Widget of the chapter *Vanishing and exploding gradients*: depth, activation, weight scale -> per-layer gradient norms.

For a random network with :math:`(W_j)_{ik} \sim N(0, s^2/n_j)` it draws the measured
:math:`\|\delta_j\|_2` (mean over samples, each sample's own loss) against the layer index, with the
lecture's backward bound :math:`\|\delta_{n+1}\|\prod_{i \ge j} c_i` (:func:`lecturelib.lipschitz.delta_norm_bounds`).
"""

from __future__ import annotations

import torch

from .. import plotting
from ..backprop import layer_gradient_norms, random_network
from ..lipschitz import delta_norm_bounds
from . import interactive_figure

__all__ = ["gradient_norm_profile", "draw_gradient_norms", "gradient_norm_explorer", "WIDGET_ACTIVATIONS"]

WIDGET_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")


def gradient_norm_profile(depth: int, activation: str = "sigmoid", weight_scale: float = 1.0,
                          residual: bool = False, width: int = 32, batch: int = 64, seed: int = 0):
    r"""Measured mean :math:`\|\delta_j\|` and its bound for a random ``depth``-layer network.

    The network has ``depth`` affine maps: input width ``width``, ``depth - 1`` hidden layers of
    ``width`` units, one output; inputs :math:`x \sim N(0, I)`, targets :math:`y \sim N(0, 1)`, MSE
    loss, float64. Returns ``(delta_norms, bounds)``, both of length ``depth + 1`` (:math:`\delta_1..\delta_{n+1}`).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ValueError(f"depth must be an int >= 2, got {depth!r}")
    for name, value in (("width", width), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    network = random_network([width] * depth + [1], activation, residual=residual,
                             weight_scale=weight_scale, seed=seed)
    generator = torch.Generator().manual_seed(int(seed) + 1)
    X = torch.randn(batch, width, generator=generator, dtype=torch.float64)  # (batch, width)
    y = torch.randn(batch, 1, generator=generator, dtype=torch.float64)  # (batch, 1)
    norms = layer_gradient_norms(network, X, y, "mse")
    bounds = delta_norm_bounds(network, float(norms.delta_norms[-1]))
    return norms.delta_norms, bounds


def draw_gradient_norms(ax, depth: int, activation: str, weight_scale: float, residual: bool = False,
                        color=None, label: str | None = None, show_bound: bool = True, **kwargs):
    """Plot :func:`gradient_norm_profile` on ``ax`` (log scale): measured norms solid, bound dotted."""
    measured, bounds = gradient_norm_profile(depth, activation, weight_scale, residual, **kwargs)
    layers = range(1, depth + 2)
    line, = ax.semilogy(layers, measured.clamp_min(1e-300), marker="o", markersize=3, color=color,
                        label=label or f"{activation}, s={weight_scale:g}{' residual' if residual else ''}")
    if show_bound:
        ax.semilogy(layers, bounds.clamp_min(1e-300), linestyle=":", color=line.get_color(),
                    label="bound $\\prod_{i\\geq j} c_i\\,\\|\\delta_{n+1}\\|$")
    return measured, bounds


def gradient_norm_explorer(max_depth: int = 60, depth: int = 20, activation: str = "sigmoid",
                           weight_scale: float = 1.0, residual: bool = False):
    """Sliders for depth and weight scale, a menu of activations and a residual switch (starting at
    the given values); the figure shows the per-layer gradient norms of a fresh random network and
    the lecture's bound."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 3:
        raise ValueError(f"max_depth must be an int >= 3, got {max_depth!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 2 <= depth <= max_depth:
        raise ValueError(f"depth must be an int in [2, max_depth={max_depth}], got {depth!r}")
    if activation not in WIDGET_ACTIVATIONS:
        raise ValueError(f"activation must be one of {WIDGET_ACTIVATIONS}, got {activation!r}")
    if isinstance(weight_scale, bool) or not isinstance(weight_scale, (int, float)) or not 0.25 <= weight_scale <= 4:
        raise ValueError(f"weight_scale must be a number in [0.25, 4], got {weight_scale!r}")
    if not isinstance(residual, bool):
        raise TypeError(f"residual must be True or False, got {residual!r}")

    initial = {"depth": depth, "activation": activation, "weight_scale": weight_scale, "residual": residual}

    def draw(depth, activation, weight_scale, residual):
        fig, ax = plotting.subplots(width=7, height=3.6)
        measured, _ = draw_gradient_norms(ax, depth, activation, weight_scale, residual)
        ratio = float(measured[0] / measured[-1])
        plotting.label(ax, "layer j (1 = input, n+1 = output)", r"mean $\|\delta_j\|_2$ (log scale)",
                       f"input-layer gradient is {ratio:.2g} x the output one")
        ax.legend(loc="best")
        plt.show()

    controls = {
        "depth": widgets.IntSlider(value=initial["depth"], min=2, max=max_depth, step=1, description="depth n"),
        "activation": widgets.Dropdown(options=list(WIDGET_ACTIVATIONS), value=initial["activation"],
                                       description="σ"),
        "weight_scale": widgets.FloatLogSlider(value=float(initial["weight_scale"]), base=2, min=-2, max=2, step=0.25,
                                               description="weight scale"),
        "residual": widgets.Checkbox(value=initial["residual"], description="residual"),
    }
    return interactive_figure(draw, controls, title="Per-layer gradient norms of a random network")
