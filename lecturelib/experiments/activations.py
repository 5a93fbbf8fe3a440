r"""The runs of the activations chapter (``book/activations``).

* :func:`train_kink_grid`: the lecture's 1-D regression nets ``[1] + [w] * 3 + [1, 1]`` for every
  activation and width of a grid, trained together as one :class:`~lecturelib.models.StackedMLP`;
  :func:`fit_curves` evaluates them on a grid and locates their kinks (Montúfar et al. 2014), for
  the figures and the explorer;
* :func:`dead_unit_run`: a deep ReLU or LeakyReLU net on digits whose hidden units are counted at
  every epoch by :func:`unit_census` (dying ReLUs, Maas et al. 2013; Lu et al. 2020);
* :func:`digits_network_run`: the ReLU net of *Convexity and counting*, trained from several seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from .. import piecewise
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..models import MLP, StackedMLP, count_parameters, get_activation
from ..train import History, fit_stacked

__all__ = ["GRID_ACTIVATIONS", "GRID_WIDTHS", "train_kink_grid", "FitCurve", "fit_curves", "unit_census",
           "dead_unit_run", "digits_network_run", "CENSUS_WIDTHS", "DIGITS_WIDTHS"]

GRID_ACTIVATIONS = ("leaky_relu", "relu", "elu", "tanh", "identity")
GRID_WIDTHS = (2, 3, 5, 8, 12)
CENSUS_WIDTHS = [64, 64, 64, 64, 10]
DIGITS_WIDTHS = [64, 32, 32, 10]


def train_kink_grid(data: DataSplit, activations=GRID_ACTIVATIONS, widths=GRID_WIDTHS, depth: int = 3,
                    epochs: int = 2000, lr: float = 0.01, seed: int = 0) -> tuple[dict[tuple[str, int], MLP], History]:
    """Train ``MLP([1] + [width] * depth + [1, 1], activation)`` for every pair at once (cached).

    Each network starts from the initialisation ``models.MLP`` gives right after seeding with
    ``seed``, exactly as if it were built alone, and is trained by full-batch Adam on the mean
    squared error (autograd and ``torch.optim.Adam``, :func:`lecturelib.train.fit_stacked`),
    evaluated every 100 epochs. Returns ``(networks, history)``: ``networks[(activation, width)]``
    is a trained ``MLP`` (width 5 with depth 3 is the lecture's 78-parameter network), and
    ``history.train_loss[i][k]`` the loss of the ``k``-th network of ``networks`` at evaluation ``i``.
    """
    if not isinstance(data, DataSplit) or data.is_classification or data.n_features != 1:
        raise ValueError("data must be a 1-D regression DataSplit, e.g. lecturelib.data.regression_1d()")
    names = [get_activation(name).name for name in activations]  # raises ValueError listing the valid names
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"widths must be a non-empty list of positive ints, got {widths!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    keys = [(name, width) for name in names for width in widths]
    grid = partial(StackedMLP.from_seeds, [[1] + [width] * depth + [1, 1] for _, width in keys],
                   [name for name, _ in keys], False, seed)
    run = cached_run(RunSpec("activations-kink-grid", data, grid, optimizer="adam", lr=lr, epochs=epochs,
                             eval_every=100, seed=seed, trainer=fit_stacked))
    return dict(zip(keys, run.model.to_mlps())), run.history


@dataclass(frozen=True)
class FitCurve:
    """A scalar network evaluated on ``grid`` ``(G, 1)``: ``outputs`` ``(G, 1)`` float64, its
    ``kinks`` on the grid's interval (float64, empty for smooth activations), its activation
    and number of parameters."""

    grid: torch.Tensor
    outputs: torch.Tensor
    kinks: torch.Tensor
    activation: str
    parameters: int


@torch.no_grad()
def fit_curves(networks: dict, lo: float = -1.5, hi: float = 1.5, points: int = 1001) -> dict:
    """:class:`FitCurve` of every network of ``networks`` (as :func:`train_kink_grid` returns them) on
    ``points`` inputs in ``[lo, hi]``; kinks by :func:`lecturelib.piecewise.locate_kinks`."""
    if not isinstance(networks, dict) or not networks:
        raise ValueError("networks must be a non-empty dict of lecturelib.models.MLP, e.g. from train_kink_grid")
    grid = torch.linspace(lo, hi, points)[:, None]  # (points, 1)
    curves = {}
    for key, model in networks.items():
        if not isinstance(model, MLP):
            raise TypeError(f"networks[{key!r}] must be a lecturelib.models.MLP, got {type(model).__name__}")
        parameter = next(model.parameters())
        outputs = model.eval()(grid.to(parameter.device, parameter.dtype)).double().cpu()
        kinks = (piecewise.locate_kinks(model, lo, hi).cpu() if model.activation in piecewise.PIECEWISE_AFFINE
                 else torch.empty(0, dtype=torch.float64))
        curves[key] = FitCurve(grid, outputs, kinks, model.activation, count_parameters(model))
    return curves


def unit_census(data: DataSplit, model: MLP, epoch: int) -> dict:
    """A :func:`lecturelib.train.fit` callback: over all hidden units on ``data.X_train``, the fraction
    ``dead`` (zero gradient on every sample, :func:`lecturelib.piecewise.dead_units`) and ``silent``
    (pre-activation <= 0 on every sample), and which first-layer units are dead."""
    X = data.X_train.to(model_device(model))
    with torch.no_grad():
        pre = model.forward_with_states(X)["pre"]  # list of (N, h)
    silent = sum(int((v <= 0).all(dim=0).sum()) for v in pre) / sum(v.shape[1] for v in pre)
    dead = piecewise.dead_units(model, X)
    return {"dead": sum(int(d.sum()) for d in dead) / sum(len(d) for d in dead),
            "silent": silent, "dead_first_layer": dead[0].tolist()}


def dead_unit_run(digits: DataSplit, activation: str, lr: float) -> CachedRun:
    """``MLP([64, 64, 64, 64, 10], activation)`` trained on ``digits`` by SGD at rate ``lr``, batches
    of 32, 20 epochs, seed 0, with :func:`unit_census` in ``history.extras`` at every epoch."""
    return cached_run(RunSpec("activations-dead-units", digits, partial(MLP, CENSUS_WIDTHS, activation=activation),
                              optimizer="sgd", lr=lr, epochs=20, batch_size=32, seed=0,
                              callback=partial(unit_census, digits)))


def digits_network_run(digits: DataSplit, seed: int) -> CachedRun:
    """``MLP([64, 32, 32, 10], "relu")`` trained on ``digits`` from seed ``seed``: SGD, lr 0.1,
    momentum 0.9, batches of 64, 30 epochs, evaluated at the start and the end."""
    return cached_run(RunSpec("activations-digits-full", digits, partial(MLP, DIGITS_WIDTHS, activation="relu"),
                              optimizer="sgd", lr=0.1, momentum=0.9, epochs=30, batch_size=64, seed=seed,
                              eval_every=30))
