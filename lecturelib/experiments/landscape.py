r"""The runs of the loss-landscape chapter (Li et al. 2018), each trained once and cached.

* :func:`train_regression_net`: the lecture's 78-parameter regression network
  ``MLP([1, 5, 5, 5, 1, 1], activation)``, trained full-batch with Adam;
* :func:`train_digits_net`: the digits MLP 64-64-10 trained by SGD with momentum at a batch size
  and a weight decay, recording :math:`\|\theta\|_2` at every evaluation (Li et al., fig. 3);
* :func:`train_deep_net`: plain and residual MLPs of growing depth (Li et al., fig. 5).
"""

from __future__ import annotations

import functools

from torch import nn

from .. import params
from .._checks import check_int
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..models import MLP

__all__ = ["REGRESSION_WIDTHS", "train_regression_net", "record_parameter_norm", "train_digits_net",
           "train_deep_net"]

REGRESSION_WIDTHS = (1, 5, 5, 5, 1, 1)  # 78 parameters with a scalar activation


def train_regression_net(split: DataSplit, activation: str = "leaky_relu") -> CachedRun:
    """The lecture's 78-parameter net with ``activation``, 1500 full-batch epochs of Adam (lr 0.01)."""
    return cached_run(RunSpec(f"landscape-regression-{activation}", split,
                              functools.partial(MLP, list(REGRESSION_WIDTHS), activation),
                              optimizer="adam", lr=0.01, epochs=1500, eval_every=500))


def record_parameter_norm(model: nn.Module, epoch: int) -> dict:
    r"""A ``callback`` for :func:`lecturelib.train.fit`: :math:`\|\theta\|_2` as ``history.extras["norm"]``."""
    return {"norm": params.norm(model)}


def train_digits_net(split: DataSplit, weight_decay: float, batch_size: int, epochs: int) -> CachedRun:
    r"""``MLP([64, 64, 10], "relu")`` trained by SGD (lr 0.1, momentum 0.9, ``weight_decay``) on
    batches of ``batch_size`` for ``epochs``, with :math:`\|\theta\|_2` recorded at 11 evaluations."""
    check_int("epochs", epochs, minimum=10)
    return cached_run(RunSpec("landscape-digits-batch", split, functools.partial(MLP, [64, 64, 10], "relu"),
                              lr=0.1, momentum=0.9, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
                              eval_every=epochs // 10, callback=record_parameter_norm))


def train_deep_net(split: DataSplit, hidden_layers: int, width: int, residual: bool) -> CachedRun:
    """A LeakyReLU MLP with ``hidden_layers`` hidden layers of ``width`` units, with or without skip
    connections, trained for 10 epochs of Adam (lr 5e-3, batches of 256)."""
    check_int("hidden_layers", hidden_layers, minimum=1)
    widths = [64] + [width] * hidden_layers + [10]
    return cached_run(RunSpec("landscape-depth", split,
                              functools.partial(MLP, widths, "leaky_relu", residual=residual),
                              optimizer="adam", lr=5e-3, epochs=10, batch_size=256, eval_every=10))
