r"""The runs of the chapter *Weight initialisation* (``book/initialisation``).

- :class:`LayerStatisticsProbe`: a ``fit`` ``on_step`` hook recording each hidden layer's
  activation mean and standard deviation and the test error along training (Glorot & Bengio 2010,
  figures 2 and 11);
- :func:`saturation_run`: their experiment at laptop scale (``saturation.ipynb``): an
  :class:`~lecturelib.models.MLP` initialised by a scheme of :mod:`lecturelib.init`, trained with
  plain minibatch SGD on cross-entropy, cached;
- :func:`test_error_runs`: their figure 11 (test error of sigmoid and tanh networks under the
  standard and the normalised initialisation): :func:`saturation_run` for any members
  ``(activation, scheme, lr)`` and seeds; :func:`grid_members` makes a search over one shared
  grid of rates, and :meth:`TestErrorRuns.best_rate` picks each model's rate from it by one
  stated rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from .._checks import check_int, check_positive, check_tensor, check_type
from ..cache import RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..init import hidden_layer_statistics, initialize
from ..models import MLP

__all__ = ["LayerStatisticsProbe", "initialised_mlp", "saturation_run", "GLOROT_MODELS", "LEARNING_RATES", "FULL_LEARNING_RATES",
           "TestErrorRuns", "grid_members",
           "test_error_runs"]

GLOROT_MODELS = (("sigmoid", "standard"), ("tanh", "standard"), ("tanh", "xavier_uniform"))  # figure 11's curves
LEARNING_RATES = (0.1, 0.3, 1.0)  # the shared grid of the figure 11 search at the default scale
FULL_LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # ... and at LECTURELIB_SCALE=full


class LayerStatisticsProbe:
    r"""An ``on_step`` hook for :func:`lecturelib.train.fit`: every ``every`` optimiser steps (step 0
    included) and at step ``last``, the mean and standard deviation of each hidden layer's
    activations on ``probe`` (:func:`lecturelib.init.hidden_layer_statistics`) and the test error
    :math:`\frac1N\sum_i [\arg\max_j m(x_i)_j \ne y_i]` on ``(X_test, y_test)``, in evaluation mode.

    Returns ``{"step": int, "mean": [per layer], "std": [per layer], "test_error": float}``, which
    ``fit`` appends to ``history.extras``. It holds no state, so one object can serve several runs.
    """

    def __init__(self, probe: torch.Tensor, X_test: torch.Tensor, y_test: torch.Tensor, every: int,
                 last: int | None = None):
        check_tensor("probe", probe, ndim=2, floating=True)
        check_tensor("X_test", X_test, ndim=2, floating=True)
        check_tensor("y_test", y_test, ndim=1, floating=False)
        self.every = check_int("every", every, minimum=1)
        self.last = None if last is None else check_int("last", last, minimum=0)
        self.probe, self.X_test, self.y_test = probe, X_test, y_test

    def describe(self) -> dict:
        return {"probe": self.probe, "X_test": self.X_test, "y_test": self.y_test, "every": self.every,
                "last": self.last}

    def __call__(self, model: nn.Module, step: int) -> dict | None:
        if step % self.every and step != self.last:
            return None
        where = model_device(model)
        stats = hidden_layer_statistics(model, self.probe.to(where))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            wrong = model(self.X_test.to(where)).argmax(dim=1) != self.y_test.to(where)
        model.train(was_training)
        return {"step": step, "mean": stats["mean"], "std": stats["std"], "test_error": float(wrong.double().mean())}


def initialised_mlp(widths, activation: str, scheme, seed: int = 0) -> MLP:
    """``MLP(widths, activation)`` with every linear layer re-initialised by ``scheme`` from a
    generator seeded with ``seed`` and zero biases (:func:`lecturelib.init.initialize`)."""
    return initialize(MLP(widths, activation=activation), scheme, seed=seed)


def saturation_run(split: DataSplit, activation: str, scheme, lr: float, steps: int, depth: int = 4,
                   width: int = 100, batch_size: int = 10, record_every: int = 50, probe_size: int = 300,
                   seed: int = 0) -> dict:
    r"""Glorot & Bengio's (2010) saturation experiment: ``depth`` hidden layers of ``width`` units
    (``activation``, initialised by ``scheme`` with zero biases), trained on ``split`` with plain
    minibatch SGD (:math:`\theta \leftarrow \theta - \text{lr}\,g`, cross-entropy, a fresh
    minibatch order every epoch) for ``steps`` steps on the CPU, cached.

    Every ``record_every`` steps (step 0 included) and after the last, :class:`LayerStatisticsProbe`
    records each hidden layer's activation mean and std on the first ``probe_size`` test inputs
    and the test error. Returns ``{"step": [...], "mean": [[per layer], ...], "std": [...],
    "test_error": [...], "final_train_loss": float}``, the last the mean cross-entropy on the
    whole training set after the last step.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    if not split.is_classification:
        raise ValueError("split must be a classification split (integer targets)")
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_int("probe_size", probe_size, minimum=1)
    probe = LayerStatisticsProbe(split.X_test[:probe_size], split.X_test, split.y_test, every=record_every, last=steps)
    epochs = math.ceil(steps / math.ceil(len(split.X_train) / batch_size))
    widths = [split.n_features] + [check_int("width", width, minimum=1)] * check_int("depth", depth, minimum=1) \
        + [split.n_classes]
    run = cached_run(RunSpec(
        name="init-saturation", data=split, model=partial(initialised_mlp, widths, activation, scheme, seed=seed),
        lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, max_steps=steps, eval_every=epochs,
        on_step=probe, device="cpu"))
    return {**{key: run.history.extras[key] for key in ("step", "mean", "std", "test_error")},
            "final_train_loss": run.history.train_loss[-1]}


# ------------------------------------------------------------------ figure 11 over seeds and rates

@dataclass(frozen=True)
class TestErrorRuns:
    """Figure 11's runs: ``members`` ``(activation, scheme, lr)``, ``seeds``, and per seed (first
    axis) and member (second): ``test_error`` ``(S, K, T)`` at ``steps`` ``(T,)``,
    ``final_train_loss`` ``(S, K)``, and the layer statistics ``mean``/``std`` ``(S, K, T, layers)``."""

    __test__ = False  # not a pytest class

    members: tuple
    seeds: tuple
    steps: torch.Tensor
    test_error: torch.Tensor
    final_train_loss: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def index(self, activation: str, scheme: str, lr: float) -> int:
        """The member ``(activation, scheme, lr)``'s position in ``members``."""
        return self.members.index((activation, scheme, lr))

    def rates(self, activation: str, scheme: str) -> list[float]:
        """The rates at which this model was trained, in the order of ``members``."""
        return [lr for a, s, lr in self.members if (a, s) == (activation, scheme)]

    def best_rate(self, activation: str, scheme: str) -> float:
        """The rule: the rate of this model with the lowest final training cross-entropy averaged
        over the seeds of these runs (a rate at which some seed ends at a non-finite loss counts as
        infinite). Test errors play no part in the choice."""
        def score(lr):
            losses = self.final_train_loss[:, self.index(activation, scheme, lr)]
            return float(losses.mean()) if bool(torch.isfinite(losses).all()) else math.inf
        return min(self.rates(activation, scheme), key=score)

    def track(self, activation: str, scheme: str, lr: float, seed: int) -> dict:
        """One run's record in :func:`saturation_run`'s form: ``{"step", "mean", "std", "test_error"}``."""
        k, s = self.index(activation, scheme, lr), self.seeds.index(seed)
        return {"step": self.steps.tolist(), "mean": self.mean[s, k].tolist(), "std": self.std[s, k].tolist(),
                "test_error": self.test_error[s, k].tolist()}


def grid_members(models=GLOROT_MODELS, rates=LEARNING_RATES) -> tuple:
    """Every model ``(activation, scheme)`` at every rate of ``rates``: the members
    ``(activation, scheme, lr)`` of a learning-rate search on one shared grid."""
    if not isinstance(models, (tuple, list)) or not models:
        raise ValueError(f"models must be a non-empty tuple of (activation, scheme) pairs, got {models!r}")
    if not isinstance(rates, (tuple, list)) or not rates:
        raise ValueError(f"rates must be a non-empty tuple of learning rates, got {rates!r}")
    return tuple((activation, scheme, check_positive("every entry of rates", lr))
                 for activation, scheme in models for lr in rates)


def test_error_runs(split: DataSplit, members, seeds=(0, 1, 2), steps: int = 4000, depth: int = 4,
                    width: int = 100, batch_size: int = 10, record_every: int = 50,
                    probe_size: int = 300) -> TestErrorRuns:
    r"""Glorot & Bengio's (2010) figure 11 runs: :func:`saturation_run` (cached) for every member
    ``(activation, scheme, lr)`` of ``members`` (e.g. :func:`grid_members`) and every seed of
    ``seeds``, each seed giving its own initial weights and minibatch order. The runs' records
    stacked as :class:`TestErrorRuns`.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    if not isinstance(seeds, (tuple, list)) or not seeds:
        raise ValueError(f"seeds must be a non-empty tuple of ints, got {seeds!r}")
    if not isinstance(members, (tuple, list)) or not members or not all(
            isinstance(m, (tuple, list)) and len(m) == 3 for m in members):
        raise ValueError(f"members must be a non-empty tuple of (activation, scheme, lr) triples, got {members!r:.80}")
    members = tuple((activation, scheme, check_positive("every member's lr", lr)) for activation, scheme, lr in members)
    records = [[saturation_run(split, activation, scheme, lr=lr, steps=steps, depth=depth, width=width,
                               batch_size=batch_size, record_every=record_every, probe_size=probe_size, seed=seed)
                for activation, scheme, lr in members] for seed in seeds]
    as_tensor = partial(torch.tensor, dtype=torch.float64)
    return TestErrorRuns(
        members, tuple(seeds), torch.tensor(records[0][0]["step"]),
        as_tensor([[r["test_error"] for r in row] for row in records]),  # (S, K, T)
        as_tensor([[r["final_train_loss"] for r in row] for row in records]),  # (S, K)
        as_tensor([[r["mean"] for r in row] for row in records]),  # (S, K, T, layers)
        as_tensor([[r["std"] for r in row] for row in records]))
