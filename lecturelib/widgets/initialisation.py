"""Interactive figures of the preprocessing and initialisation chapters.

* :func:`plot_layer_histograms`: one histogram per hidden layer (activations or gradients),
  used by the static figures and by the widget.
* :func:`activation_histogram_widget`: weight scale, activation and depth -> per-layer
  activation histograms of the lecture's bias-free network (Glorot & Bengio 2010).
* :func:`preprocessing_widget`: offset, stretch and rotation of a 2-D cloud and a
  preprocessing -> the transformed cloud and gradient descent on least squares.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import conditioning, init, plotting
from . import interactive_figure

__all__ = ["plot_layer_histograms", "activation_histogram_widget", "preprocess_matrix", "PREPROCESSINGS",
           "preprocessing_widget"]


def plot_layer_histograms(axes, records, values: str = "activations", bins: int = 40, value_range=None,
                          color=None, show_stats: bool = True):
    """Draw layer ``l``'s histogram of ``records[l].activations`` (or ``.gradients``) on ``axes[l]``.

    ``records`` come from :func:`lecturelib.init.activation_statistics` with ``keep_values=True``.
    Histograms are normalised (density) over the values inside ``value_range``, a common
    x-range, by default (-1, 1) for activations and +-4 std of the widest layer for gradients;
    values outside it are not drawn.
    """
    if values not in ("activations", "gradients"):
        raise ValueError(f"values must be 'activations' or 'gradients', got {values!r}")
    axes = list(np.ravel(axes))
    if len(axes) < len(records):
        raise ValueError(f"need one axis per layer: got {len(axes)} axes for {len(records)} layers")
    if any(getattr(r, values) is None for r in records):
        raise ValueError("records hold no values; call activation_statistics(..., keep_values=True)")
    if value_range is None:
        if values == "activations":
            value_range = (-1.0, 1.0)
        else:
            spread = 4 * max(r.grad_std for r in records) or 1.0
            value_range = (-spread, spread)
    for ax, record in zip(axes, records):
        data = getattr(record, values).flatten().float().numpy()
        ax.hist(data, bins=bins, range=value_range, density=True,
                color=color or plotting.color_for(0), alpha=0.85)
        ax.set_yticks([])
        ax.grid(False)
        if show_stats:
            spread = record.std if values == "activations" else record.grad_std
            ax.set_title(f"layer {record.layer}\nstd {spread:.2g}", fontsize=9, fontweight="normal")
    return axes


def activation_histogram_widget(n_samples: int = 500, width: int = 500, seed: int = 0):
    """Sliders for the weight scale (std of a Gaussian), the activation and the depth, drawing
    the per-layer activation histograms of :func:`lecturelib.init.activation_statistics` on
    unit-Gaussian inputs of shape ``(n_samples, width)``.

    The title gives :math:`\\text{scale}\\cdot\\sqrt{\\text{fan\\_in}}`: 1 is Xavier (LeCun) and
    :math:`\\sqrt2` is He initialisation.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    X = torch.randn(n_samples, width, generator=torch.Generator().manual_seed(seed))

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


PREPROCESSINGS = ("raw", "centred", "standardised", "PCA", "whitened")


def preprocess_matrix(X: torch.Tensor, how: str, eps: float = 1e-12) -> torch.Tensor:
    r"""Apply one of :data:`PREPROCESSINGS` to a ``(N, d)`` matrix using its own statistics:
    :math:`x - \mu`, :math:`(x-\mu)/\sigma`, :math:`U^T(x-\mu)` or :math:`\Lambda^{-1/2}U^T(x-\mu)`
    (the same transforms as :mod:`lecturelib.data`, for a bare matrix). Float64."""
    if how not in PREPROCESSINGS:
        raise ValueError(f"how must be one of {PREPROCESSINGS}, got {how!r}")
    if not isinstance(X, torch.Tensor) or X.dim() != 2:
        raise ValueError(f"X must be a (samples, features) tensor, got {getattr(X, 'shape', type(X).__name__)}")
    X = X.double()
    if how == "raw":
        return X
    centred = X - X.mean(dim=0)
    if how == "centred":
        return centred
    if how == "standardised":
        return centred / (centred.std(dim=0, unbiased=False) + eps)
    variances, axes = torch.linalg.eigh(centred.T @ centred / len(X))
    order = torch.argsort(variances, descending=True)
    rotated = centred @ axes[:, order]
    return rotated if how == "PCA" else rotated / torch.sqrt(variances[order].clamp_min(0) + eps)


def preprocessing_widget(tol: float = 1e-6, max_steps: int = 3000):
    """Sliders for a 2-D Gaussian cloud (offset of its mean, ratio of its two standard
    deviations, rotation) and a preprocessing: draws the preprocessed cloud and the relative
    excess loss of gradient descent on least squares, raw against preprocessed, with the
    condition numbers and the exact step counts to ``tol``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def draw(offset, stretch, angle, how):
        X, y = conditioning.gaussian_cloud(n=400, mean=(offset, 0.5 * offset), stds=(stretch, 1.0),
                                           angle_degrees=angle, seed=0)
        Z = preprocess_matrix(X, how)
        fig, (left, right) = plotting.subplots(1, 2, width=9.5, height=3.8)
        left.scatter(X[:, 0], X[:, 1], s=6, alpha=0.35, color=plotting.color_for(6), label="raw")
        left.scatter(Z[:, 0], Z[:, 1], s=6, alpha=0.6, color=plotting.color_for(0), label=how)
        left.set_aspect("equal", adjustable="datalim")
        left.legend(loc="upper left")
        plotting.label(left, "feature 1", "feature 2", "The cloud before and after")
        for data, name, color in ((X, "raw", plotting.color_for(6)), (Z, how, plotting.color_for(0))):
            kappa = conditioning.condition_number(conditioning.least_squares_hessian(data))
            steps = conditioning.exact_steps(data, y, tol=tol)
            run = conditioning.gradient_descent_steps(data, y, tol=tol, max_steps=max_steps)
            right.semilogy(np.maximum(run.relative_excess, 1e-16), color=color,
                           label=f"{name}: kappa {kappa:.3g}, {steps} steps")
        right.axhline(tol, color="grey", linestyle=":", linewidth=1)
        right.set_ylim(tol / 10, 2)
        right.legend(loc="upper right")
        plotting.label(right, "gradient-descent step", "relative excess loss",
                       "Better conditioning, fewer steps")
        plt.show()

    controls = {
        "offset": widgets.FloatSlider(value=4.0, min=0.0, max=10.0, step=0.5, description="mean offset"),
        "stretch": widgets.FloatLogSlider(value=5.0, base=10, min=0, max=1.3, step=0.05, description="std ratio"),
        "angle": widgets.FloatSlider(value=30.0, min=0.0, max=90.0, step=5.0, description="rotation (deg)"),
        "how": widgets.Dropdown(options=list(PREPROCESSINGS[1:]), value="standardised", description="preprocess"),
    }
    return interactive_figure(draw, controls, title="Preprocessing a 2-D cloud and gradient descent")
