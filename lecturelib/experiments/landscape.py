r"""The runs of the loss-landscape chapter (Li et al. 2018), each trained once and cached.

* the lecture's 78-parameter LeakyReLU network is the book's one shared run,
  :func:`lecturelib.experiments.lecture_network.train_lecture_network`;
  :func:`train_tanh_lecture_network` is its tanh twin, trained by the same recipe;
* :func:`train_digits_net`: the digits MLP 64-64-10 trained by SGD with momentum at a batch size
  and a weight decay from a seeded initialisation, recording :math:`\|\theta\|_2` at every
  evaluation (Li et al., figs. 2 and 3);
* :func:`train_deep_net`: plain and residual MLPs of growing depth, with or without batch
  normalisation (Li et al., fig. 5);

the lecture's raw random directions (:func:`raw_directions`), and two summaries of the slices the chapter compares: :func:`valley_width` of a 1-D slice and
:func:`grid_local_minima` of a 2-D slice; :func:`seed_summary` reports a number over seeds.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from .. import params
from .._checks import check_choice, check_int, check_nonnegative, check_positive, check_real, check_seed, check_type
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..landscape import LandscapeResult
from ..models import MLP
from .lecture_network import lecture_recipe_run

__all__ = ["train_tanh_lecture_network", "record_parameter_norm", "train_digits_net", "DIGITS_WIDTHS",
           "train_deep_net", "valley_width", "grid_local_minima",
           "raw_directions", "seed_summary"]

DIGITS_WIDTHS = (64, 64, 10)


def train_tanh_lecture_network(split: DataSplit | None = None) -> CachedRun:
    """The lecture network ``MLP([1, 5, 5, 5, 1, 1], "tanh")`` trained exactly as
    :func:`~lecturelib.experiments.lecture_network.train_lecture_network` trains the LeakyReLU one:
    full-batch Adam (lr 0.01), 3000 epochs, seed 0, on the CPU, on ``split`` (default
    :func:`~lecturelib.experiments.lecture_network.lecture_regression`)."""
    return lecture_recipe_run("landscape-lecture-network-tanh", "tanh", split)


def record_parameter_norm(model: nn.Module, epoch: int) -> dict:
    r"""A ``callback`` for :func:`lecturelib.train.fit`: :math:`\|\theta\|_2` as ``history.extras["norm"]``."""
    return {"norm": params.norm(model)}


def train_digits_net(split: DataSplit, weight_decay: float, batch_size: int, epochs: int, seed: int = 0) -> CachedRun:
    r"""``MLP([64, 64, 10], "relu")`` trained by SGD (lr 0.1, momentum 0.9) on batches of
    ``batch_size`` for ``epochs``, the loss plus :math:`\frac{\lambda}{2}\|\theta\|^2` with
    :math:`\lambda` = ``weight_decay``, with :math:`\|\theta\|_2` recorded at 11 evaluations.

    ``seed`` draws the initialisation and orders the minibatches (:class:`lecturelib.cache.RunSpec`),
    so two runs with different seeds start from different networks, as in Li et al. (2018, fig. 2).
    """
    check_int("epochs", epochs, minimum=10)
    check_int("batch_size", batch_size, minimum=1)
    check_nonnegative("weight_decay", weight_decay)
    check_seed("seed", seed)
    return cached_run(RunSpec("landscape-digits-batch", split, functools.partial(MLP, list(DIGITS_WIDTHS), "relu"),
                              lr=0.1, momentum=0.9, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                              eval_every=epochs // 10, callback=record_parameter_norm, seed=seed))


def train_deep_net(split: DataSplit, hidden_layers: int, width: int, residual: bool, seed: int = 0,
                   norm: str | None = None, epochs: int = 10) -> CachedRun:
    r"""A LeakyReLU MLP ``[n_in] + [width] * hidden_layers + [n_classes]``, with or without skip
    connections :math:`z_{j+1} = z_j + \sigma(N(W_j z_j + b_j))`, where :math:`N` is batch
    normalisation of every hidden pre-activation (``norm="batch"``, as in the ResNets of Li et al.
    2018) or the identity (``norm=None``), trained from seed ``seed`` for ``epochs`` epochs of Adam
    (lr 5e-3, batches of 256)."""
    check_int("hidden_layers", hidden_layers, minimum=1)
    check_int("width", width, minimum=1)
    check_type("residual", residual, bool, "True or False")
    check_seed("seed", seed)
    check_choice("norm", norm, ("batch", None))
    check_int("epochs", epochs, minimum=1)
    widths = [split.n_features] + [width] * hidden_layers + [split.n_classes]
    return cached_run(RunSpec("landscape-depth", split,
                              functools.partial(MLP, widths, "leaky_relu", residual=residual, norm=norm),
                              optimizer="adam", lr=5e-3, epochs=epochs, batch_size=256, eval_every=epochs, seed=seed))


def valley_width(result: LandscapeResult, rise: float, centre: float = 0.0) -> tuple[float, float]:
    r"""How far the valley of a 1-D slice extends on each side of the grid point nearest ``centre``.

    With :math:`i` that point, the width is read off the longest run of grid points
    :math:`j` around :math:`i` where :math:`f(\alpha_j) < f(\alpha_i) + \text{rise}`: returns
    ``(alpha_i - alpha_first, alpha_last - alpha_i)``. A side that reaches the end of the grid is
    cut there, so a width equal to the grid's extent means "at least this wide". The wider the
    valley at a fixed ``rise``, the flatter the minimum looks in this slice (Li et al. 2018, sec. 5).
    """
    check_type("result", result, LandscapeResult, "a lecturelib.landscape.LandscapeResult")
    if result.is_plane:
        raise ValueError("result must be a 1-D slice (landscape.line or landscape.interpolate), got a plane")
    check_positive("rise", rise)
    check_real("centre", centre)
    alphas, loss = result.alphas, result.loss
    i = int(np.argmin(np.abs(alphas - centre)))
    inside = loss < loss[i] + rise  # (steps,)
    low = i
    while low > 0 and inside[low - 1]:
        low -= 1
    high = i
    while high < len(alphas) - 1 and inside[high + 1]:
        high += 1
    return float(alphas[i] - alphas[low]), float(alphas[high] - alphas[i])


def grid_local_minima(result: LandscapeResult) -> int:
    """The number of interior grid points of a 2-D slice whose loss is strictly below all eight
    neighbours': 1 for one convex-looking basin, more where the surface is rough ("chaotic", Li et
    al. 2018, fig. 5)."""
    check_type("result", result, LandscapeResult, "a lecturelib.landscape.LandscapeResult")
    if not result.is_plane:
        raise ValueError("result must be a 2-D slice (landscape.plane), got a 1-D slice")
    z = result.loss  # (n_alpha, n_beta)
    n, m = z.shape
    if n < 3 or m < 3:
        raise ValueError(f"result must have at least 3 x 3 grid points, got {n} x {m}")
    centre = z[1:-1, 1:-1]
    lowest = np.ones_like(centre, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lowest &= centre < z[1 + di:n - 1 + di, 1 + dj:m - 1 + dj]
    return int(lowest.sum())


def raw_directions(model: nn.Module, count: int = 2, seed: int = 0) -> list[dict]:
    r"""``count`` raw random directions as the lecture draws them: :math:`\delta \sim N(0, I)` in
    every parameter, biases included, with no normalisation (unlike
    :func:`lecturelib.landscape.random_direction` with ``norm=None``, which zeroes the biases'
    direction or copies the biases into it). Drawn in float64 on the CPU from ``seed``, in
    ``model.named_parameters()`` order, then cast to each parameter's dtype and device."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int("count", count, minimum=1)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    return [{name: torch.randn(p.shape, generator=generator, dtype=torch.float64).to(dtype=p.dtype, device=p.device)
             for name, p in model.named_parameters()} for _ in range(count)]


def seed_summary(values: dict, config: tuple, seeds) -> tuple[np.ndarray, str]:
    r"""``values[(*config, seed)]`` for every seed of ``seeds``, as a float array in seed order and as
    the text ``"mean ± spread"``, the spread being half the range, :math:`(\max - \min) / 2`
    (3 significant digits for the mean, 2 for the spread)."""
    check_type("values", values, dict, "a dict keyed by (*config, seed)")
    check_type("config", config, tuple, "a tuple: the key of values without its seed")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    missing = [(*config, seed) for seed in seeds if (*config, seed) not in values]
    if missing:
        raise ValueError(f"values has no entry for {missing[0]!r}; its keys are (*config, seed) such as "
                         f"{next(iter(values), None)!r}")
    v = np.array([float(values[(*config, seed)]) for seed in seeds])
    return v, f"{v.mean():.3g} ± {np.ptp(v) / 2:.2g}"
