r"""The lectures' 78-parameter regression network, trained once for the whole book.

The lectures draw the loss landscape, the Hessian and the Lipschitz bounds of one small network,
``MLP([1, 5, 5, 5, 1, 1], "leaky_relu")`` (78 parameters), on a one-dimensional regression problem.
The lectures do not give their data; the book uses its own, :func:`lecturelib.data.regression_1d`
(:math:`y = \sin 3x + 0.3x + \varepsilon`). Every chapter that studies "the lecture's network" at its
minimum :math:`\theta^\star` loads the same cached run from :func:`train_lecture_network`, so
:math:`\theta^\star`, its kinks and its curvature are the same on every page.
"""

from __future__ import annotations

import functools

from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit, regression_1d
from ..models import MLP
from .._checks import check_type

__all__ = ["LECTURE_WIDTHS", "LECTURE_ACTIVATION", "LECTURE_EPOCHS", "lecture_regression", "train_lecture_network",
           "lecture_recipe_run"]

LECTURE_WIDTHS = (1, 5, 5, 5, 1, 1)  # 10 + 30 + 30 + 6 + 2 = 78 parameters
LECTURE_ACTIVATION = "leaky_relu"
LECTURE_EPOCHS = 3000


def lecture_regression() -> DataSplit:
    """The book's 1-D regression data for the lecture network: :func:`lecturelib.data.regression_1d`
    with its defaults (30 training and 200 test points, noise 0.1, seed 0)."""
    return regression_1d()


def train_lecture_network(split: DataSplit | None = None) -> CachedRun:
    """The lecture network fitted to ``split`` (default :func:`lecture_regression`) by full-batch
    Adam (lr 0.01) for 3000 epochs, seed 0, on the CPU: a minimum whose whole 78×78 Hessian fits on
    a page. Trained once and cached; every chapter that uses the lecture network calls this."""
    return lecture_recipe_run("lecture-network-78", LECTURE_ACTIVATION, split)


def lecture_recipe_run(name: str, activation: str, split: DataSplit | None = None) -> CachedRun:
    """``MLP(LECTURE_WIDTHS, activation)`` trained by :func:`train_lecture_network`'s recipe on
    ``split`` (default :func:`lecture_regression`), cached under run ``name``."""
    split = lecture_regression() if split is None else split
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit (a 1-D regression problem)")
    if split.is_classification or split.n_features != 1:
        raise ValueError(f"split must be a 1-D regression DataSplit such as lecture_regression(), "
                         f"got {split.n_features} features, classification={split.is_classification}")
    return cached_run(RunSpec(name, split, functools.partial(MLP, list(LECTURE_WIDTHS), activation),
                              optimizer="adam", lr=0.01, epochs=LECTURE_EPOCHS, eval_every=500, seed=0,
                              device="cpu"))
