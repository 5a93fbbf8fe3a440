"""The run of the chapter *Backpropagation, derived* (``book/backprop``).

:func:`digits_tanh_run` trains the tanh network whose gradients ``backpropagation_derived.ipynb``
computes by hand and checks against autograd and finite differences (Rumelhart et al. 1986).
"""

from __future__ import annotations

from functools import partial

from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..models import MLP

__all__ = ["digits_tanh_run", "DIGITS_TANH_WIDTHS"]

DIGITS_TANH_WIDTHS = [64, 64, 64, 64, 10]


def digits_tanh_run(digits: DataSplit) -> CachedRun:
    """``MLP([64, 64, 64, 64, 10], "tanh")`` trained on ``digits`` (:func:`lecturelib.data.digits`) with
    plain SGD, lr 0.1, batches of 64, for 30 epochs on the CPU."""
    return cached_run(RunSpec(
        name="backprop-digits-tanh", data=digits, model=partial(MLP, DIGITS_TANH_WIDTHS, activation="tanh"),
        optimizer="sgd", lr=0.1, epochs=30, batch_size=64, seed=0, device="cpu"))
