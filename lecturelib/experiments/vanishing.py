r"""The runs of the chapter *Vanishing and exploding gradients* (``book/vanishing``).

- :func:`gradient_norm_profile`: per-layer :math:`\|\delta_j\|` of a random network beside the
  lecture's backward bound :math:`\|\delta_{n+1}\|\prod_{i \ge j} c_i` (what the chapter's widget shows);
- :func:`scaled_residual_growth`: the lecture's remedy for residual networks, :math:`\alpha\sigma` with
  :math:`\alpha < 1` (:math:`\alpha\,\mathrm{ReLU}` or :math:`\alpha\tanh`), measured over seeds
  (``vanishing_exploding.ipynb``);
- :func:`regression_run`: the lecture's 78-parameter leaky-ReLU network with residual connections,
  trained by the recipe of :func:`lecturelib.experiments.lecture_network.train_lecture_network`, the
  book's one run of the plain network (``lipschitz.ipynb``, Lipschitz bound against the steepest slope);
- :func:`digits_run`: leaky-ReLU digit classifiers with 1 to 8 hidden layers of 32 units
  (``lipschitz.ipynb``, the product bound loosening with depth; Bartlett et al. 2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from .._checks import check_choice, check_int, check_positive, check_type
from ..backprop import forward, layer_gradient_norms
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..lipschitz import delta_norm_bounds, layer_lipschitz_factors
from ..models import MLP, random_network, scaled_activation
from .lecture_network import LECTURE_ACTIVATION, LECTURE_EPOCHS, LECTURE_WIDTHS

__all__ = ["gradient_norm_profile", "ScaledResidualGrowth", "scaled_residual_growth", "regression_run",
           "digits_run", "REGRESSION_WIDTHS", "DIGITS_HIDDEN_WIDTH"]

REGRESSION_WIDTHS = list(LECTURE_WIDTHS)  # the lecture's 78-parameter network
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


@dataclass(frozen=True)
class ScaledResidualGrowth:
    r"""Growth through a residual network with activation :math:`\alpha\sigma`, one entry per seed.

    ``gradient``: :math:`\|\delta_2\|/\|\delta_n\|` (mean per-sample norms, first hidden state over
    last); ``forward``: :math:`\|z_n\|/\|z_2\|`; ``bound``: the lecture's
    :math:`\prod_j (1 + \alpha L_\sigma\|W_j\|_2)` over the residual layers. Each a ``(len(seeds),)`` tensor.
    """

    activation: str
    alpha: float
    seeds: tuple
    gradient: torch.Tensor
    forward: torch.Tensor
    bound: torch.Tensor


def scaled_residual_growth(X: torch.Tensor, y: torch.Tensor, activation: str, alpha: float, seeds=(0, 1, 2),
                           hidden_layers: int = 50, width: int = 32) -> ScaledResidualGrowth:
    r"""The lecture's remedy for exploding residual gradients, measured: a residual network with
    activation :math:`\alpha\sigma` (:func:`lecturelib.models.scaled_activation`, ``activation`` ``"relu"``
    or ``"tanh"``), widths ``[n_in] + [width] * hidden_layers + [n_classes]``, Gaussian weights
    :math:`N(0, 1/n_j)`, zero biases, one network per seed, backpropagating the cross-entropy of
    ``X`` ``(N, n_in)``, ``y`` ``(N,)`` in float64. The ``hidden_layers - 1`` square layers are
    residual, :math:`z_{j+1} = z_j + \alpha\sigma(W_j z_j)`; each multiplies the lecture's backward
    bound by :math:`1 + \alpha\|W_j\|_2`.
    """
    check_type("X", X, torch.Tensor, "a (N, n_in) tensor")
    check_type("y", y, torch.Tensor, "a (N,) tensor of class labels")
    check_choice("activation", activation, ("relu", "tanh"))
    alpha = check_positive("alpha", alpha)
    check_int("hidden_layers", hidden_layers, minimum=3)
    check_int("width", width, minimum=1)
    if not isinstance(seeds, (tuple, list)) or not seeds:
        raise ValueError(f"seeds must be a non-empty tuple of ints, got {seeds!r}")
    X = X.double()
    widths = [X.shape[1]] + [width] * hidden_layers + [int(y.max()) + 1]
    gradient, growth, bound = [], [], []
    for seed in seeds:
        net = random_network(widths, scaled_activation(activation, alpha), residual=True, weight_scale=1.0,
                             seed=seed)
        deltas = layer_gradient_norms(net, X, y, "cross_entropy").delta_norms  # delta_1 .. delta_{n+1}
        states = forward(net, X).states  # z_1 .. z_{n+1}
        gradient.append(float(deltas[1] / deltas[-2]))
        growth.append(float(states[-2].norm(dim=1).mean() / states[1].norm(dim=1).mean()))
        bound.append(float(layer_lipschitz_factors(net)[1:-1].prod()))  # the residual layers' factors
    as_tensor = partial(torch.tensor, dtype=torch.float64)
    return ScaledResidualGrowth(activation, alpha, tuple(seeds), as_tensor(gradient), as_tensor(growth),
                                as_tensor(bound))


def regression_run(regression: DataSplit, residual: bool = True) -> CachedRun:
    """The lecture's leaky-ReLU network ``MLP([1, 5, 5, 5, 1, 1])`` with residual connections fitted to
    ``regression`` (:func:`lecturelib.data.regression_1d`) by the recipe of the book's plain run,
    :func:`lecturelib.experiments.lecture_network.train_lecture_network`: full-batch Adam, lr 0.01,
    3000 epochs, seed 0, on the CPU. The plain network is that run itself; ask for it there."""
    check_type("residual", residual, bool, "True or False")
    if not residual:
        raise ValueError("residual=False is the book's one run of the lecture network: use "
                         "lecturelib.experiments.lecture_network.train_lecture_network(regression)")
    return cached_run(RunSpec(
        name="lipschitz-regression-residual", data=regression,
        model=partial(MLP, REGRESSION_WIDTHS, LECTURE_ACTIVATION, residual=True),
        optimizer="adam", lr=0.01, epochs=LECTURE_EPOCHS, eval_every=500, seed=0, device="cpu"))


def digits_run(digits: DataSplit, hidden_layers: int) -> CachedRun:
    """A leaky-ReLU classifier with ``hidden_layers`` hidden layers of 32 units trained on ``digits``
    (:func:`lecturelib.data.digits`) with Adam, lr 1e-3, batches of 64, for 20 epochs on the CPU."""
    check_int("hidden_layers", hidden_layers, minimum=1)
    widths = [64] + [DIGITS_HIDDEN_WIDTH] * hidden_layers + [10]
    return cached_run(RunSpec(
        name="lipschitz-digits", data=digits, model=partial(MLP, widths, "leaky_relu"),
        optimizer="adam", lr=1e-3, epochs=20, batch_size=64, eval_every=20, seed=0, device="cpu"))
