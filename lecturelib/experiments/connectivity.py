r"""The runs of the mode-connectivity chapter (Garipov et al. 2018): two minima, then curves between them.

* :func:`endpoint_spec` / :func:`train_endpoints`: one :class:`~lecturelib.models.MLP` per seed,
  the same recipe (SGD with momentum), so the minima :math:`w_1, w_2` differ only by the seed of
  the initialisation and of the minibatch order;
* :func:`curve_spec` / :func:`train_curve`: the bend :math:`\theta` of a Bezier curve or polychain
  from :math:`w_1` to :math:`w_2`, trained to minimise
  :math:`\mathbb{E}_{t\sim U(0,1)} L(\phi_\theta(t))` with one :math:`t` per minibatch.
"""

from __future__ import annotations

import functools

from torch import nn

from .._checks import check_choice, check_seed
from ..cache import CachedRun, RunSpec, cached_run
from ..connectivity import CURVE_KINDS, Curve
from ..data import DataSplit
from ..models import MLP

__all__ = ["endpoint_spec", "train_endpoints", "curve_spec", "train_curve"]


def endpoint_spec(split: DataSplit, seed: int, widths=(64, 64, 64, 10), activation: str = "relu", epochs: int = 40,
                  lr: float = 0.05, momentum: float = 0.9, batch_size: int = 64) -> RunSpec:
    """The run of one endpoint: ``MLP(widths, activation)`` trained by SGD with momentum, seeded by ``seed``."""
    check_seed("seeds", seed)
    return RunSpec("connectivity-endpoint", split, functools.partial(MLP, list(widths), activation),
                   optimizer="sgd", lr=lr, momentum=momentum, epochs=epochs, batch_size=batch_size, seed=seed,
                   eval_every=max(epochs // 10, 1))


def train_endpoints(split: DataSplit, seeds=(1, 2), **recipe) -> list[CachedRun]:
    """The endpoints of :func:`endpoint_spec` for every seed in ``seeds`` (``recipe``: its other
    arguments), trained or loaded from the cache."""
    if not isinstance(seeds, (tuple, list)) or len(seeds) < 1:
        raise ValueError(f"seeds must be a non-empty tuple of ints, got {seeds!r}")
    return [cached_run(endpoint_spec(split, seed, **recipe)) for seed in seeds]


def curve_spec(start: nn.Module, end: nn.Module, split: DataSplit, kind: str = "bezier", epochs: int = 50,
               lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> RunSpec:
    r"""The run that trains the bend of a ``kind`` curve from ``start`` to ``end`` with Adam
    (Kingma & Ba 2015); its ``History`` holds the losses at the midpoint :math:`\phi(\frac12)`.
    ``seed`` orders the minibatches and the :math:`t` draws."""
    check_choice("kind", kind, CURVE_KINDS)
    if kind == "line":
        raise ValueError("kind='line' has nothing to train; use 'bezier' or 'polychain'")
    return RunSpec(f"connectivity-{kind}", split, functools.partial(Curve, start, end, kind, seed=seed),
                   optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                   eval_every=max(epochs // 25, 1))


def train_curve(start: nn.Module, end: nn.Module, split: DataSplit, kind: str = "bezier", **recipe) -> CachedRun:
    """The curve of :func:`curve_spec` (``recipe``: its other arguments), trained or loaded from the cache."""
    return cached_run(curve_spec(start, end, split, kind, **recipe))
