r"""The runs of the preprocessing chapter (``book/preprocessing``): a network trained on raw,
centred and standardised inputs.

The lecture's argument (COMP541, lecture 4, after LeCun et al.'s *Efficient BackProp*) is about
one unit :math:`a = \tanh(\theta^T x)`: the gradient of a loss :math:`L(a)` is

.. math::

    \frac{\partial L}{\partial \theta_k} = L'(a)\,(1 - a^2)\,x_k ,

so, sample by sample, the coordinates of the gradient are in the ratio of the inputs' coordinates,
and inputs of very different scales give weights that one learning rate cannot serve. Here a whole
network is trained on the wine data (:func:`wine`), whose thirteen features range from about 0.1
to about 1,000:

* :func:`wine_run`: ``MLP([13, 32, 3], "tanh")`` trained on one transform of the inputs
  (:data:`INPUT_TRANSFORMS`) at one rate and seed (cached);
* :func:`steps_to_loss` and :func:`fastest_rate`: the protocol, the number of full-batch steps to
  a target training loss, at the rate of a shared grid (:data:`WINE_RATES`) that is best for
  each transform.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from .._checks import check_choice, check_int, check_positive, check_seed, check_type
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit, center, split_arrays, standardize
from ..models import MLP
from ..train import History

__all__ = ["wine", "INPUT_TRANSFORMS", "transformed", "WINE_WIDTHS", "WINE_RATES", "WINE_STEPS", "wine_run",
           "steps_to_loss", "fastest_rate"]

INPUT_TRANSFORMS = ("raw", "centred", "standardised")
WINE_WIDTHS = [13, 32, 3]
WINE_RATES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
WINE_STEPS = 200


def wine(test_fraction: float = 0.25, seed: int = 0) -> DataSplit:
    """Scikit-learn's bundled wine recognition data: 178 wines, 13 chemical measurements, 3 cultivars.

    The features keep their units (alcohol in percent, proline in mg/l, ...), so their scales differ
    by four orders of magnitude. The split is stratified by class and fixed by ``seed``.
    """
    from sklearn.datasets import load_wine

    bunch = load_wine()
    return split_arrays(bunch.data.astype(np.float32), bunch.target, test_fraction, seed,
                        "wine (13 features in their own units, 3 classes)")


def transformed(split: DataSplit, how: str) -> DataSplit:
    """``split`` as it is (``"raw"``), centred (:func:`lecturelib.data.center`) or standardised
    (:func:`lecturelib.data.standardize`), with the statistics of the training inputs."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    how = check_choice("how", how, INPUT_TRANSFORMS)
    return {"raw": lambda: split, "centred": lambda: center(split), "standardised": lambda: standardize(split)}[how]()


def wine_run(split: DataSplit, how: str, lr: float, seed: int, steps: int = WINE_STEPS) -> CachedRun:
    """``MLP([13, 32, 3], "tanh")`` (PyTorch's default initialisation, seed ``seed``) trained on
    ``transformed(split, how)`` by full-batch gradient descent with momentum 0.9 at rate ``lr`` on
    the cross-entropy, for ``steps`` steps, evaluated after every step (cached)."""
    check_positive("lr", lr)
    check_seed("seed", seed)
    check_int("steps", steps, minimum=1)
    return cached_run(RunSpec("preprocessing-wine", transformed(split, how), partial(MLP, WINE_WIDTHS, "tanh"),
                              optimizer="sgd", lr=float(lr), momentum=0.9, epochs=steps, seed=seed))


def steps_to_loss(history: History, target: float) -> float:
    """The first evaluated step at which the training loss is at most ``target`` (``inf`` if none;
    full-batch training takes one step per epoch)."""
    check_type("history", history, History, "a lecturelib.train.History")
    check_positive("target", target)
    return next((float(epoch) for epoch, loss in zip(history.epoch, history.train_loss) if loss <= target), math.inf)


def fastest_rate(steps: dict, final_losses: dict | None = None) -> tuple[float, list]:
    """``(rate, steps per seed)`` of ``steps = {rate: [steps per seed]}`` with the fewest mean steps
    (``inf`` counts as never). Ties, such as rates that never reach the target, go to the lower mean
    of ``final_losses = {rate: [final training loss per seed]}`` if given, then to the smaller rate."""
    if not isinstance(steps, dict) or not steps:
        raise ValueError(f"steps must be a non-empty dict {{rate: [steps per seed]}}, got {steps!r:.80}")
    if final_losses is not None and set(final_losses) != set(steps):
        raise ValueError("final_losses must have the same rates as steps")

    def order(rate):
        mean_loss = 0.0 if final_losses is None else sum(final_losses[rate]) / len(final_losses[rate])
        mean_loss = math.inf if math.isnan(mean_loss) else mean_loss  # a diverged run is the worst
        return sum(steps[rate]) / len(steps[rate]), mean_loss, rate

    best = min(steps, key=order)
    return best, list(steps[best])
