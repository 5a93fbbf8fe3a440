r"""The runs of *Overparameterised networks* and *Generalisation and the norm of the weights*.

* :func:`regression_sweep`: ``MLP([1, w, w, 1], "relu")`` for every width ``w`` of a grid and several
  seeds on the 1-D regression, trained together as one :class:`~lecturelib.models.StackedMLP`
  (full-batch Adam, the rate decayed exponentially), with and without weight decay;
* :func:`digits_sweep`: ``MLP([64, w, 10], "relu")`` on a small digits subset, fitted by least
  squares to one-hot targets (as in Belkin et al. 2019's double-descent experiments);
* :func:`norm_experiment`: the lecture's residual LeakyReLU net ``[1] + [5] * 30 + [1, 1]``
  (888 parameters) from a small-norm and from a large-norm starting point, and from the small start
  rebalanced to a norm in the hundreds (the same function);
* :func:`member_summary` and :func:`seed_spread`: what the notebooks measure on the trained stacks
  (weight norm, Lipschitz bound, steepest slope, errors; the spread of the seeds' functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from ... import lipschitz, optim
from ..._checks import check_int, check_nonnegative, check_type
from ...cache import RunSpec, cached_run
from ...data import DataSplit, digits
from ...models import MLP, StackedMLP
from ...train import History, fit_stacked

__all__ = ["REGRESSION_WIDTHS", "DIGITS_WIDTHS", "NORM_WIDTHS", "NORM_STARTS", "Sweep", "sweep_stack",
           "regression_sweep", "digits_subset", "digits_sweep", "norm_member", "norm_stack", "norm_experiment", "member_summary",
           "steepest_slopes", "seed_spread"]

REGRESSION_WIDTHS = (1, 2, 4, 8, 16, 32, 64)
DIGITS_WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128)
NORM_WIDTHS = [1] + [5] * 30 + [1, 1]  # the lecture's 30x5,1,1 residual net: 888 parameters
# name -> (factor on the first and the 5 -> 1 layer, rebalancing factor c); see norm_member
NORM_STARTS = {"small": (0.3, 1.0), "large": (3.0, 1.0), "rebalanced": (0.3, 700.0)}


@dataclass
class Sweep:
    """A trained ``stack``, its :class:`~lecturelib.train.History` (one loss per member in every entry),
    the ``widths`` ``(hidden width, seed)`` of every member, and every member's parameter norm at
    initialisation ``initial_norm`` ``(K,)``."""

    stack: StackedMLP
    history: History
    members: list
    initial_norm: torch.Tensor

    def indices(self, key) -> list[int]:
        """The members whose first entry (a width, or a start name) is ``key``, one per seed."""
        return [m for m, (k, _) in enumerate(self.members) if k == key]

    @property
    def keys(self) -> list:
        return list(dict.fromkeys(k for k, _ in self.members))


def _decay(epochs: int, factor: float):
    return optim.ExponentialDecay(math.log(factor) / epochs)


def sweep_stack(widths_of, members, activation: str = "relu") -> StackedMLP:
    """Untrained members ``widths_of(w)`` seeded by their seed: ``members`` lists ``(w, seed)``."""
    return StackedMLP.from_seeds([widths_of(w) for w, _ in members], activation, False, [s for _, s in members])


def _regression_widths(width: int) -> list[int]:
    return [1, width, width, 1]


def _digits_widths(width: int) -> list[int]:
    return [64, width, 10]


def _members(widths, seeds):
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"widths must be a non-empty list of positive ints, got {widths!r}")
    return [(w, s) for w in widths for s in range(check_int("seeds", seeds, minimum=1))]


def _sweep(name, data, widths_of, members, epochs, lr, weight_decay, eval_every) -> Sweep:
    build = partial(sweep_stack, widths_of, members)
    initial = build().parameter_norms()
    run = cached_run(RunSpec(name, data, build, optimizer="adam", lr=lr, weight_decay=weight_decay,
                             schedule=_decay(epochs, 100.0), epochs=epochs, eval_every=eval_every,
                             trainer=partial(fit_stacked, computation="written")))
    return Sweep(run.model, run.history, members, initial)


def regression_sweep(data: DataSplit, widths=REGRESSION_WIDTHS, seeds: int = 3, epochs: int = 4000,
                     weight_decay: float = 0.0) -> Sweep:
    """``MLP([1, w, w, 1], "relu")`` for every width and seeds ``0 .. seeds - 1`` on the 1-D regression
    ``data`` (cached): full-batch Adam from rate 0.01 decayed 100-fold over ``epochs`` epochs, with L2
    ``weight_decay`` added to the gradient (0: only the implicit bias of the algorithm)."""
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    if data.is_classification or data.n_features != 1:
        raise ValueError("data must be a 1-D regression DataSplit, e.g. lecturelib.data.regression_1d()")
    check_int("epochs", epochs, minimum=1)
    check_nonnegative("weight_decay", weight_decay)
    return _sweep("regularisation-width-1d", data, _regression_widths, _members(widths, seeds), epochs, 1e-2,
                  weight_decay, max(1, epochs // 4))


def digits_subset(n_train: int = 100, seed: int = 0) -> DataSplit:
    """``n_train`` training images of :func:`lecturelib.data.digits` (a seeded random choice) and its
    whole test split, with one-hot ``float32`` targets ``(N, 10)`` for least-squares training."""
    n_train = check_int("n_train", n_train, minimum=10)
    full = digits(seed=seed)
    if n_train > len(full.X_train):
        raise ValueError(f"n_train must be at most {len(full.X_train)}, got {n_train}")
    chosen = torch.randperm(len(full.X_train), generator=torch.Generator().manual_seed(seed))[:n_train]
    one_hot = partial(F.one_hot, num_classes=10)
    return DataSplit(full.X_train[chosen], one_hot(full.y_train[chosen]).float(), full.X_test,
                     one_hot(full.y_test).float(), f"{n_train} digits, one-hot targets")


def digits_sweep(data: DataSplit, widths=DIGITS_WIDTHS, seeds: int = 3, epochs: int = 2000) -> Sweep:
    """``MLP([64, w, 10], "relu")`` for every width and seed on ``data`` (from :func:`digits_subset`;
    cached): the mean squared error to the one-hot targets, full-batch Adam from rate 0.01 decayed
    100-fold over ``epochs`` epochs."""
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    if data.y_train.dim() != 2 or data.y_train.shape[1] != 10 or data.n_features != 64:
        raise ValueError("data must hold 64 pixels and one-hot targets (N, 10), e.g. from digits_subset()")
    check_int("epochs", epochs, minimum=1)
    return _sweep("regularisation-width-digits", data, _digits_widths, _members(widths, seeds), epochs, 1e-2,
                  0.0, epochs)


def norm_member(start: str, seed: int) -> MLP:
    r"""The lecture's residual net ``[1] + [5] * 30 + [1, 1]`` (LeakyReLU) started at ``start``:
    ``MLP``'s initialisation for ``seed`` with the 29 residual blocks scaled by :math:`1/\sqrt{29}` (so
    the deep stack starts near the identity), then, with ``(ends, c) = NORM_STARTS[start]``, the first
    layer and the ``5 -> 1`` layer scaled by ``ends`` and the net *rebalanced* by ``c``: the first layer
    and every block's bias times ``c``, the ``5 -> 1`` weights divided by ``c``. LeakyReLU is positively
    homogeneous, so ``z + \sigma(Wz + b)`` maps ``c z`` with bias ``c b`` to ``c`` times its output:
    rebalancing changes the norm and not the function."""
    if start not in NORM_STARTS:
        raise ValueError(f"start must be one of {sorted(NORM_STARTS)}, got {start!r}")
    ends, c = NORM_STARTS[start]
    torch.manual_seed(check_int("seed", seed, minimum=0))
    mlp = MLP(NORM_WIDTHS, "leaky_relu", residual=True)
    block = 1 / math.sqrt(29)
    with torch.no_grad():
        for j, layer in enumerate(mlp.layers):
            weight, bias = ((ends * c, ends * c) if j == 0 else (block, block * c) if j <= 29
                            else (ends / c, ends) if j == 30 else (1.0, 1.0))
            layer.weight.mul_(weight)
            layer.bias.mul_(bias)
    return mlp


def norm_stack(members) -> StackedMLP:
    """:func:`norm_member` for every ``(start, seed)`` of ``members``, stacked."""
    return StackedMLP.from_mlps([norm_member(start, seed) for start, seed in members])


def norm_experiment(data: DataSplit, starts=tuple(NORM_STARTS), seeds: int = 3, epochs: int = 10000) -> Sweep:
    """Train :func:`norm_stack` for every start and seed on ``data`` (cached): full-batch Adam from rate
    0.01 decayed 100-fold over ``epochs`` epochs."""
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    check_int("epochs", epochs, minimum=1)
    unknown = [s for s in starts if s not in NORM_STARTS]
    if not starts or unknown:
        raise ValueError(f"starts must name entries of {sorted(NORM_STARTS)}, got {starts!r}")
    members = [(start, s) for start in starts for s in range(check_int("seeds", seeds, minimum=1))]
    build = partial(norm_stack, members)
    initial = build().parameter_norms()
    run = cached_run(RunSpec("regularisation-weight-norms", data, build, optimizer="adam", lr=1e-2,
                             schedule=_decay(epochs, 100.0), epochs=epochs, eval_every=max(1, epochs // 4),
                             trainer=partial(fit_stacked, computation="written")))
    return Sweep(run.model, run.history, members, initial)


@torch.no_grad()
def steepest_slopes(stack: StackedMLP, lo: float, hi: float, points: int = 4001) -> torch.Tensor:
    r"""Every member's steepest slope :math:`\max |f(t_{i+1}) - f(t_i)| / (t_{i+1} - t_i)` on ``points``
    equally spaced inputs of ``[lo, hi]`` (a lower bound on the member's Lipschitz constant there, exact
    for a piecewise-linear member whose kinks are farther apart than the grid step), ``(K,)`` float64."""
    check_type("stack", stack, StackedMLP, "a lecturelib.models.StackedMLP")
    check_int("points", points, minimum=2)
    if not hi > lo:
        raise ValueError(f"need lo < hi, got lo={lo!r}, hi={hi!r}")
    grid = torch.linspace(lo, hi, points, dtype=torch.float64)[:, None]
    out = stack(grid.to(stack.theta.dtype))[..., 0].double()
    return ((out[:, 1:] - out[:, :-1]) / (grid[1, 0] - grid[0, 0])).abs().amax(dim=1)


@torch.no_grad()
def member_summary(sweep: Sweep, data: DataSplit) -> list[dict]:
    """Per member of ``sweep``: its key and seed, parameters, final training and test loss, parameter
    norm, the Lipschitz bound :func:`lecturelib.lipschitz.lipschitz_upper_bound` (with
    :math:`L_\\sigma = 1`), the steepest slope between the training inputs (1-D data only), and the
    training and test classification errors (one-hot targets only)."""
    check_type("sweep", sweep, Sweep, "a Sweep")
    stack = sweep.stack
    rows = []
    slopes = (steepest_slopes(stack, float(data.X_train.min()), float(data.X_train.max()))
              if data.n_features == 1 else None)
    errors = {}
    if data.y_train.shape[1] > 1:
        for split in ("train", "test"):
            X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
            errors[split] = (stack(X).argmax(-1) != y.argmax(-1)).double().mean(dim=1)
    norms = stack.parameter_norms()
    for m, (key, seed) in enumerate(sweep.members):
        row = {"key": key, "seed": seed, "parameters": stack.n_parameters()[m],
               "train_loss": sweep.history.train_loss[-1][m], "test_loss": sweep.history.test_loss[-1][m],
               "norm": float(norms[m]), "initial_norm": float(sweep.initial_norm[m]),
               "lipschitz": lipschitz.lipschitz_upper_bound(stack.to_mlp(m), 1.0)}
        if slopes is not None:
            row["slope"] = float(slopes[m])
        for split, error in errors.items():
            row[f"{split}_error"] = float(error[m])
        rows.append(row)
    return rows


@torch.no_grad()
def seed_spread(sweep: Sweep, key, data: DataSplit, points: int = 1001) -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
    """The seeds of ``key`` evaluated on ``points`` inputs between the first and last training input:
    ``(grid (G, 1), outputs (S, G), spread_at_data (S-seed standard deviation at each training input,
    (N,)))``; the standard deviation over seeds along the grid is ``outputs.std(0)``."""
    check_type("sweep", sweep, Sweep, "a Sweep")
    members = sweep.indices(key)
    if len(members) < 2:
        raise ValueError(f"key {key!r} needs at least two seeds in the sweep, got {len(members)}")
    check_int("points", points, minimum=2)
    grid = torch.linspace(float(data.X_train.min()), float(data.X_train.max()), points)[:, None]
    outputs = sweep.stack(grid)[members, :, 0]
    at_data = sweep.stack(data.X_train)[members, :, 0].std(dim=0)
    return grid, outputs, at_data
