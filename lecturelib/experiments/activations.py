r"""The runs of the activations chapter (``book/activations``).

* :func:`train_kink_grid`: the lecture's 1-D regression nets ``[1] + [w] * 3 + [1, 1]`` for every
  activation and width of a grid, trained together as one :class:`~lecturelib.models.StackedMLP`;
  :func:`fit_curves` evaluates them on a grid and locates their kinks (Montúfar et al. 2014), for
  the figures and the explorer;
* :func:`dead_unit_run`: a deep ReLU or LeakyReLU net on digits whose hidden units are counted at
  every epoch by :func:`unit_census` (dying ReLUs, Maas et al. 2013; Lu et al. 2020);
* :func:`digits_network_run`: the ReLU net of *Convexity and counting*, trained from several seeds;
* :func:`convergence_speed_run`: ReLU, tanh and sigmoid nets on digits for every rate of a shared
  grid and three seeds (Krizhevsky et al. 2012's "ReLU trains several times faster"), read by
  :func:`epochs_to_error` and :func:`fastest_rates`;
* :func:`bias_census_run`: the dead-unit census with hidden biases initialised to a constant;
* :func:`prelu_run`: a PReLU net whose learned slopes are recorded every epoch (He et al. 2015);
* :func:`krizhevsky_cnn` and :func:`epochs_to_training_error`: the four-layer CIFAR-10 network of
  the paper-scale speed comparison (``LECTURELIB_SCALE=full``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .. import piecewise
from .._checks import check_fraction, check_real, check_type
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..init import initialize
from ..models import MLP, StackedMLP, count_parameters, get_activation
from ..train import History, fit_stacked

__all__ = ["GRID_ACTIVATIONS", "GRID_WIDTHS", "train_kink_grid", "FitCurve", "fit_curves", "unit_census",
           "dead_unit_run", "digits_network_run", "CENSUS_WIDTHS", "DIGITS_WIDTHS", "SPEED_ACTIVATIONS",
           "SPEED_INIT", "SPEED_RATES", "one_hot_split", "initialised_stack", "stacked_training_error",
           "SpeedRuns", "convergence_speed_run", "epochs_to_error", "fastest_rates", "biased_mlp",
           "bias_census_run", "prelu_slopes", "prelu_run", "krizhevsky_cnn", "epochs_to_training_error"]

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


# --------------------------------------------------------- training speed, biases and PReLU slopes

SPEED_ACTIVATIONS = ("relu", "tanh", "sigmoid")
SPEED_INIT = "xavier_normal"  # the same Glorot-normal weights for every activation: only sigma changes
SPEED_RATES = (0.03, 0.1, 0.3, 1.0)
SPEED_BATCH = 32


def one_hot_split(split: DataSplit) -> DataSplit:
    """``split`` with its class labels turned into float one-hot targets ``(N, C)``, so that a
    :class:`~lecturelib.models.StackedMLP` can be trained on it by the mean squared error."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit of a classification problem")
    if not split.is_classification:
        raise ValueError("split must be a classification DataSplit (integer labels), e.g. lecturelib.data.digits()")
    classes = int(max(split.y_train.max(), split.y_test.max())) + 1
    return DataSplit(split.X_train, F.one_hot(split.y_train, classes).float(), split.X_test,
                     F.one_hot(split.y_test, classes).float(), f"{split.description}, one-hot targets")


def initialised_stack(widths, activations, scheme, seeds) -> StackedMLP:
    """A :class:`~lecturelib.models.StackedMLP` of ``MLP(widths, activations[m])``, member ``m``
    initialised by :func:`lecturelib.init.initialize` with ``scheme``, zero biases and seed
    ``seeds[m]`` (a builder for :func:`convergence_speed_run`)."""
    return StackedMLP.from_mlps([initialize(MLP(list(widths), activation), scheme, seed=seed)
                                 for activation, seed in zip(activations, seeds)])


def stacked_training_error(X: torch.Tensor, labels: torch.Tensor, every: int, model: StackedMLP, step: int):
    """An ``on_step`` hook: every ``every`` optimiser steps (and before the first), the fraction of
    the ``labels`` that each member of ``model`` misclassifies on ``X`` (arg-max of its outputs)."""
    if step % every:
        return None
    with torch.no_grad():
        wrong = model(X).argmax(-1) != labels.to(model.theta.device)  # (K, N)
    return {"step": step, "train_error": wrong.double().mean(-1).tolist()}


@dataclass(frozen=True)
class SpeedRuns:
    """The runs of :func:`convergence_speed_run`: ``members[m] = (activation, rate, seed)`` of stack
    member ``m``; ``epochs`` ``(E,)`` and ``train_error`` ``(E, K)`` at every recorded step."""

    run: CachedRun
    members: list
    epochs: torch.Tensor
    train_error: torch.Tensor


def convergence_speed_run(digits: DataSplit, widths=CENSUS_WIDTHS, activations=SPEED_ACTIVATIONS,
                          rates=SPEED_RATES, seeds=(0, 1, 2), epochs: int = 25, every: int = 11) -> SpeedRuns:
    """Krizhevsky et al.'s (2012) comparison of ReLU with saturating units, on the digits: one
    ``MLP(widths, activation)`` for every activation, learning rate of the shared grid ``rates`` and
    seed, all with the same initialisation (:data:`SPEED_INIT`, Glorot normal, zero biases: the
    seed fixes the weights, whatever the activation), trained together (cached) by SGD with
    momentum 0.9 in batches of 32 on
    the mean squared error to one-hot targets (:func:`lecturelib.train.fit_stacked`, written-out
    gradients, one rate per member), with the training error of every member every ``every`` steps."""
    names = [get_activation(name).name for name in activations]
    if not rates or not all(isinstance(rate, float) and rate > 0 for rate in rates):
        raise ValueError(f"rates must be a non-empty list of positive floats, got {rates!r}")
    members = [(name, rate, seed) for name in names for rate in rates for seed in seeds]
    stack = partial(initialised_stack, list(widths), [m[0] for m in members], SPEED_INIT, [m[2] for m in members])
    hook = partial(stacked_training_error, digits.X_train, digits.y_train, every)
    run = cached_run(RunSpec("activations-speed", one_hot_split(digits), stack, optimizer="sgd",
                             lr=tuple(m[1] for m in members), momentum=0.9, epochs=epochs, batch_size=SPEED_BATCH,
                             eval_every=epochs, on_step=hook, trainer=partial(fit_stacked, computation="written")))
    batches = -(-len(digits.X_train) // SPEED_BATCH)
    return SpeedRuns(run, members, torch.tensor(run.history.extras["step"], dtype=torch.float64) / batches,
                     torch.tensor(run.history.extras["train_error"], dtype=torch.float64))


def epochs_to_error(runs: SpeedRuns, target: float) -> dict:
    """``{(activation, rate, seed): epochs}``: the first recorded epoch at which a member's training
    error is at most ``target`` (``inf`` if it never is)."""
    check_fraction("target", target)
    reached = runs.train_error <= target  # (E, K)
    first = torch.where(reached.any(0), reached.double().argmax(0), torch.full((reached.shape[1],), -1.0))
    return {member: (float(runs.epochs[int(i)]) if i >= 0 else math.inf)
            for member, i in zip(runs.members, first.tolist())}


def fastest_rates(epochs: dict) -> dict:
    """``{activation: (rate, [epochs per seed])}``: for every activation the rate of the grid with the
    fewest mean epochs to the target (as :func:`epochs_to_error` returns them; ties go to the smaller rate)."""
    table = {}
    for (name, rate, _), value in epochs.items():
        table.setdefault(name, {}).setdefault(rate, []).append(value)
    return {name: min(sorted(by_rate.items()), key=lambda item: sum(item[1]) / len(item[1]))
            for name, by_rate in table.items()}


def biased_mlp(widths, activation: str, bias: float) -> MLP:
    """``MLP(widths, activation)`` with PyTorch's default weights and every hidden bias set to ``bias``
    (the output layer keeps its default bias): the "slightly positive bias" against dead ReLUs."""
    model = MLP(list(widths), activation)
    with torch.no_grad():
        for layer in model.layers[:-1]:
            layer.bias.fill_(float(bias))
    return model


def bias_census_run(digits: DataSplit, bias: float, lr: float, seed: int) -> CachedRun:
    """:func:`dead_unit_run`'s ReLU network and training (SGD at rate ``lr``, batches of 32, 20 epochs),
    from seed ``seed`` with every hidden bias initialised to ``bias`` (:func:`biased_mlp`), with
    :func:`unit_census` at every epoch."""
    check_real("bias", bias)
    return cached_run(RunSpec("activations-bias-census", digits, partial(biased_mlp, CENSUS_WIDTHS, "relu", float(bias)),
                              optimizer="sgd", lr=lr, epochs=20, batch_size=32, seed=seed,
                              callback=partial(unit_census, digits)))


def prelu_slopes(model: MLP, epoch: int) -> dict:
    """A :func:`lecturelib.train.fit` callback: the learned slopes ``a`` of every PReLU layer (one per unit)."""
    return {"slopes": [layer.weight.detach().cpu().tolist() for layer in model.activations]}


def prelu_run(digits: DataSplit, seed: int) -> CachedRun:
    """``MLP([64, 64, 64, 64, 10], "prelu")`` (one slope per unit, He et al. 2015, starting at 0.25)
    trained on ``digits`` from seed ``seed``: SGD, lr 0.05, momentum 0.9, batches of 32, 20 epochs,
    no weight decay (He et al. do not decay the slopes), with :func:`prelu_slopes` at every epoch."""
    return cached_run(RunSpec("activations-prelu", digits, partial(MLP, CENSUS_WIDTHS, activation="prelu"),
                              optimizer="sgd", lr=0.05, momentum=0.9, epochs=20, batch_size=32, seed=seed,
                              callback=prelu_slopes))


# --------------------------------------------------------------- the paper-scale speed comparison

def krizhevsky_cnn(activation: str, input_shape=(3, 32, 32), num_classes: int = 10) -> nn.Sequential:
    """A four-layer convolutional network for CIFAR-10 like that of Krizhevsky et al.'s (2012)
    Figure 1 (the paper does not give its layers): three 5x5 convolutions of 32, 32 and 64 channels
    (padding 2), each followed by ``activation`` and max pooling by 2, then a linear classifier.
    Only the activation changes between the networks compared. Inputs ``(N, C, H, W)``."""
    spec = get_activation(activation)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or input_shape[1] % 8 or input_shape[2] % 8:
        raise ValueError(f"input_shape must be (channels, height, width) with sides divisible by 8, got {input_shape!r}")
    channels = [input_shape[0], 32, 32, 64]
    layers = []
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 5, padding=2), spec.module(c_out), nn.MaxPool2d(2)]
    layers += [nn.Flatten(), nn.Linear(64 * (input_shape[1] // 8) * (input_shape[2] // 8), num_classes)]
    return nn.Sequential(*layers)


def epochs_to_training_error(history: History, target: float) -> float:
    """The first evaluated epoch of ``history`` whose training error is at most ``target`` (``inf``
    if none is), as Krizhevsky et al. count epochs to 25 % training error."""
    check_fraction("target", target)
    if not history.train_accuracy:
        raise ValueError("history has no training accuracy: it must come from a classification run")
    return next((float(epoch) for epoch, accuracy in zip(history.epoch, history.train_accuracy)
                 if 1 - accuracy <= target), math.inf)
