r"""The run of the residual-networks chapter (``book/residual``): the lecture's depth experiment.

The lecture's LeakyReLU nets ``[1] + [5] * k + [1, 1]`` for ``k`` = 3, 5, 10, 15, 45 hidden
layers of width 5 (depth 5 to 47), plain and residual (He et al. 2016), three seeds each, plus
the deepest residual net without the :math:`1/\sqrt{k-1}` scaling of its residual blocks
(Fixup's idea, Zhang et al. 2019), all trained at once by full-batch Adam as one
:class:`~lecturelib.models.StackedMLP` with the written-out backward recursion
(:func:`lecturelib.train.fit_stacked`, ``computation="written"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch

from .._checks import check_int, check_type
from ..cache import RunSpec, cached_run
from ..data import DataSplit
from ..models import StackedMLP
from ..train import History, fit_stacked

__all__ = ["HIDDEN_COUNTS", "depth_runs", "depth_stack", "DepthExperiment", "depth_experiment", "DepthFits",
           "depth_fits", "final_loss_summary"]

HIDDEN_COUNTS = (3, 5, 10, 15, 45)


def depth_runs(hidden_counts=HIDDEN_COUNTS, seeds: int = 3) -> list[tuple[int, str, int]]:
    """The members of the experiment, ``(hidden layers, label, seed)``: every count plain and
    residual, then the deepest residual unscaled, each with seeds ``0 .. seeds - 1``."""
    configs = ([(k, "plain") for k in hidden_counts] + [(k, "residual") for k in hidden_counts]
               + [(max(hidden_counts), "unscaled")])
    return [(k, label, seed) for k, label in configs for seed in range(seeds)]


def depth_stack(runs) -> StackedMLP:
    r"""The untrained members of ``runs`` (see :func:`depth_runs`): ``MLP([1] + [5] * k + [1, 1],
    "leaky_relu", residual)`` seeded by their seed, the residual blocks of the ``"residual"``
    members scaled by :math:`1/\sqrt{k - 1}`."""
    stack = StackedMLP.from_seeds([[1] + [5] * k + [1, 1] for k, _, _ in runs], "leaky_relu",
                                  [label != "plain" for _, label, _ in runs], [seed for _, _, seed in runs])
    stack.scale_blocks([1 / math.sqrt(k - 1) if label == "residual" else 1.0 for k, label, _ in runs])
    return stack


@dataclass
class DepthExperiment:
    """The trained ``stack``, its :class:`~lecturelib.train.History` (one loss per member in every
    entry), the ``runs`` ``(hidden layers, label, seed)``, and every member's first-layer gradient
    norm at initialisation, ``initial_gradient`` ``(K,)``."""

    stack: StackedMLP
    history: History
    runs: list
    initial_gradient: torch.Tensor

    @property
    def labels(self) -> list[str]:
        return [label for _, label, _ in self.runs]

    def members(self, hidden: int, label: str) -> list[int]:
        """Indices of the members with ``hidden`` hidden layers and this ``label`` (its seeds)."""
        return [m for m, (k, name, _) in enumerate(self.runs) if (k, name) == (hidden, label)]


def depth_experiment(data: DataSplit, epochs: int, hidden_counts=HIDDEN_COUNTS, seeds: int = 3) -> DepthExperiment:
    """Train the members of :func:`depth_runs` on ``data`` (cached): full-batch Adam, lr 0.01, for
    ``epochs`` epochs, the losses evaluated every 10 epochs."""
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    check_int("epochs", epochs, minimum=1)
    runs = depth_runs(tuple(hidden_counts), check_int("seeds", seeds, minimum=1))
    initial_gradient = depth_stack(runs).first_layer_gradient_norm(data.X_train, data.y_train)
    run = cached_run(RunSpec("residual-depth", data, partial(depth_stack, runs), optimizer="adam", lr=1e-2,
                             epochs=epochs, eval_every=10, trainer=partial(fit_stacked, computation="written")))
    return DepthExperiment(run.model, run.history, runs, initial_gradient)


@dataclass(frozen=True)
class DepthFits:
    """What the depth figures draw: every member's outputs ``(K, G, 1)`` on ``grid`` ``(G, 1)``, its
    training loss ``train_loss`` ``(E, K)`` at ``epochs``, its depth (affine layers) and label."""

    grid: torch.Tensor
    outputs: torch.Tensor
    epochs: list
    train_loss: torch.Tensor
    depths: list
    labels: list


@torch.no_grad()
def depth_fits(experiment: DepthExperiment, lo: float = -1.6, hi: float = 1.6, points: int = 200) -> DepthFits:
    """Evaluate every member of ``experiment`` on ``points`` inputs in ``[lo, hi]``."""
    check_type("experiment", experiment, DepthExperiment, "a DepthExperiment")
    grid = torch.linspace(lo, hi, points).unsqueeze(1)  # (points, 1)
    outputs = experiment.stack.forward(grid.to(experiment.stack.theta.device)).cpu()  # (K, points, 1)
    history = experiment.history
    return DepthFits(grid, outputs, list(history.epoch), torch.tensor(history.train_loss, dtype=torch.float64),
                     [len(w) - 1 for w in experiment.stack.widths], experiment.labels)


def final_loss_summary(stack: StackedMLP, history: History, labels=None) -> list[dict]:
    """Group the members and summarise their final training losses ``history.train_loss[-1]``.

    Members are grouped by ``labels`` (one string per member, e.g. ``"plain"``/``"residual"``;
    by default by their residual flag) and their widths. Returns one dict per group, in order of
    first appearance, with keys ``label``, ``widths``, ``depth`` (number of affine layers),
    ``parameters``, ``members`` (indices), ``median``, ``min`` and ``max``.
    """
    check_type("stack", stack, StackedMLP, "a lecturelib.models.StackedMLP")
    if not isinstance(history, History) or not history.train_loss or len(history.train_loss[-1]) != stack.n_members:
        raise ValueError(f"history must be the History of this stack's training ({stack.n_members} members)")
    if labels is None:
        labels = ["residual" if flag else "plain" for flag in stack.residual]
    labels = list(labels) if isinstance(labels, (list, tuple)) else labels
    if not isinstance(labels, list) or len(labels) != stack.n_members or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"labels must be {stack.n_members} strings, one per member, got {labels!r:.80}")
    final = torch.tensor(history.train_loss[-1], dtype=torch.float64)  # (K,)
    groups: dict[tuple[str, tuple], list[int]] = {}
    for index, key in enumerate(zip(labels, map(tuple, stack.widths))):
        groups.setdefault(key, []).append(index)
    rows = []
    for (label, widths), members in groups.items():
        values = final[members]
        rows.append({"label": label, "widths": list(widths), "depth": len(widths) - 1,
                     "parameters": stack.n_parameters()[members[0]], "members": members,
                     "median": float(torch.quantile(values, 0.5)), "min": float(values.min()),
                     "max": float(values.max())})
    return rows
