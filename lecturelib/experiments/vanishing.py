r"""The runs of the chapter *Vanishing and exploding gradients* (``book/vanishing``).

- :func:`gradient_norm_profile`: per-layer :math:`\|\delta_j\|` of a random network beside the
  lecture's backward bound :math:`\|\delta_{n+1}\|\prod_{i \ge j} c_i` (what the chapter's widget shows);
- :func:`regression_run`: the lecture's 78-parameter leaky-ReLU network, plain or residual, fitted to
  the 1-D regression data (``lipschitz.ipynb``, Lipschitz bound against the steepest slope);
- :func:`digits_run`: leaky-ReLU digit classifiers with 1 to 8 hidden layers of 32 units
  (``lipschitz.ipynb``, the product bound loosening with depth; Bartlett et al. 2017).
"""

from __future__ import annotations

from functools import partial

import torch

from .._checks import check_int, check_type
from ..backprop import layer_gradient_norms
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..lipschitz import delta_norm_bounds
from ..models import MLP, random_network

__all__ = ["gradient_norm_profile", "regression_run", "digits_run", "REGRESSION_WIDTHS", "DIGITS_HIDDEN_WIDTH"]

REGRESSION_WIDTHS = [1, 5, 5, 5, 1, 1]  # the lecture's 78-parameter network
DIGITS_HIDDEN_WIDTH = 32


def gradient_norm_profile(depth: int, activation: str = "sigmoid", weight_scale: float = 1.0,
                          residual: bool = False, width: int = 32, batch: int = 64, seed: int = 0):
    r"""Measured mean :math:`\|\delta_j\|` and its bound for a random ``depth``-layer network.

    The network (:func:`lecturelib.models.random_network`, :math:`(W_j)_{ik} \sim N(0, s^2/n_j)`) has
    ``depth`` affine maps: input width ``width``, ``depth - 1`` hidden layers of ``width`` units, one
    output; inputs :math:`x \sim N(0, I)`, targets :math:`y \sim N(0, 1)`, MSE loss, float64. Returns
    ``(delta_norms, bounds)``, both of length ``depth + 1`` (:math:`\delta_1..\delta_{n+1}`), the bounds
    from :func:`lecturelib.lipschitz.delta_norm_bounds` scaled to the measured :math:`\|\delta_{n+1}\|`.
    """
    check_int("depth", depth, minimum=2)
    check_int("width", width, minimum=1)
    check_int("batch", batch, minimum=1)
    network = random_network([width] * depth + [1], activation, residual=residual,
                             weight_scale=weight_scale, seed=seed)
    generator = torch.Generator().manual_seed(int(seed) + 1)
    X = torch.randn(batch, width, generator=generator, dtype=torch.float64)  # (batch, width)
    y = torch.randn(batch, 1, generator=generator, dtype=torch.float64)  # (batch, 1)
    norms = layer_gradient_norms(network, X, y, "mse")
    bounds = delta_norm_bounds(network, float(norms.delta_norms[-1]))
    return norms.delta_norms, bounds


def regression_run(regression: DataSplit, residual: bool) -> CachedRun:
    """The leaky-ReLU network ``MLP([1, 5, 5, 5, 1, 1])`` (plain or ``residual``) fitted to ``regression``
    (:func:`lecturelib.data.regression_1d`) with full-batch Adam, lr 0.02, for 1000 epochs on the CPU."""
    check_type("residual", residual, bool, "True or False")
    return cached_run(RunSpec(
        name="lipschitz-regression", data=regression,
        model=partial(MLP, REGRESSION_WIDTHS, "leaky_relu", residual=residual),
        optimizer="adam", lr=0.02, epochs=1000, eval_every=1000, seed=0, device="cpu"))


def digits_run(digits: DataSplit, hidden_layers: int) -> CachedRun:
    """A leaky-ReLU classifier with ``hidden_layers`` hidden layers of 32 units trained on ``digits``
    (:func:`lecturelib.data.digits`) with Adam, lr 1e-3, batches of 64, for 20 epochs on the CPU."""
    check_int("hidden_layers", hidden_layers, minimum=1)
    widths = [64] + [DIGITS_HIDDEN_WIDTH] * hidden_layers + [10]
    return cached_run(RunSpec(
        name="lipschitz-digits", data=digits, model=partial(MLP, widths, "leaky_relu"),
        optimizer="adam", lr=1e-3, epochs=20, batch_size=64, eval_every=20, seed=0, device="cpu"))
