r"""The runs of the chapter *Weight initialisation* (``book/initialisation``).

- :class:`LayerStatisticsProbe`: a ``fit`` ``on_step`` hook recording each hidden layer's
  activation mean and standard deviation and the test error along training (Glorot & Bengio 2010,
  figures 2 and 11);
- :func:`saturation_run`: their experiment at laptop scale (``saturation.ipynb``): an
  :class:`~lecturelib.models.MLP` initialised by a scheme of :mod:`lecturelib.init`, trained with
  plain minibatch SGD on cross-entropy, cached.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .._checks import check_int, check_tensor, check_type
from ..cache import RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..init import hidden_layer_statistics, initialize
from ..models import MLP

__all__ = ["LayerStatisticsProbe", "initialised_mlp", "saturation_run"]


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
    "test_error": [...]}``.
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
    return {key: run.history.extras[key] for key in ("step", "mean", "std", "test_error")}
