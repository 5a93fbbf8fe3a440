r"""A run specification: the configuration *is* the call.

A :class:`RunSpec` names everything that determines a trained model (the data, a builder of the
untrained network, the optimiser and its hyperparameters, the schedule, epochs, batch size, seed,
hooks and trainer), builds and trains it (:meth:`RunSpec.build`, :meth:`RunSpec.train`), and
describes itself as JSON (:meth:`RunSpec.describe`). The cache key of a run is

    key = sha256(JSON(describe(spec), data_fingerprint(spec.data),
                      sources of the lecturelib modules the run uses, torch version, device type))[:16]

where the modules a run uses are those that define its builder, trainer, optimiser, hooks and
losses, and every lecturelib module they import, directly or lazily, transitively. Editing a
widget's docstring therefore retrains nothing; editing ``train.loop`` retrains every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Callable

import torch
from torch import nn

from .. import __version__
from .._checks import check_callable, check_int, check_seed, check_type
from ..data import DataSplit
from ..device import resolve_device, seed_everything
from ..train import History, fit
from .keys import check_run_name, describe, import_closure, module_file

__all__ = ["RunSpec"]

_HOOKS = ("model", "optimizer", "schedule", "loss_fn", "callback", "on_step", "finish", "trainer")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one trained model; see the module docstring for the key.

    ``model`` is a zero-argument callable that builds the untrained network, e.g.
    ``functools.partial(models.MLP, [64, 32, 10], "relu")``. ``seed`` seeds the initialisation
    (:func:`lecturelib.device.seed_everything` right before ``model()``) and the minibatch order.
    ``finish(model, history)`` runs after training and before the run is stored: it may change the
    model in place (restore a snapshot) and add to ``history.extras``. ``trainer`` is called as
    ``trainer(model, data, optimizer=..., lr=..., ..., device=...)`` with every training field and
    returns a :class:`~lecturelib.train.History` (:func:`lecturelib.train.fit` by default).

    Hooks, builders and trainers must be describable: module-level functions and classes,
    ``functools.partial`` of them, bound methods, or objects with a ``describe() -> dict`` method.
    Lambdas and closures are refused, since nothing could tell two of them apart in the key.
    """

    name: str
    data: DataSplit
    model: Callable[[], nn.Module]
    optimizer: str | Callable = "sgd"
    lr: float | tuple = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: Callable[[int], float] | None = None
    epochs: int = 100
    batch_size: int | None = None
    seed: int = 0
    eval_every: int = 1
    max_steps: int | None = None
    loss_fn: Callable | None = None
    callback: Callable | None = None
    on_step: Callable | None = None
    finish: Callable[[nn.Module, History], None] | None = None
    trainer: Callable = fit
    device: str | torch.device | None = None

    def __post_init__(self):
        check_run_name(self.name)
        check_type("data", self.data, DataSplit, "a lecturelib.data.DataSplit")
        if isinstance(self.model, nn.Module):
            raise TypeError(f"model must build the network (a zero-argument callable such as functools.partial("
                            f"models.MLP, widths)), got the network {type(self.model).__name__} itself")
        check_callable("model", self.model)
        check_callable("trainer", self.trainer)
        check_seed("seed", self.seed)
        check_int("epochs", self.epochs, minimum=0)
        if isinstance(self.lr, list):
            object.__setattr__(self, "lr", tuple(self.lr))
        self.describe()  # refuse what cannot be keyed now, not after training

    def build(self) -> nn.Module:
        """The untrained network: ``seed_everything(seed)``, then ``model()``."""
        seed_everything(self.seed)
        network = self.model()
        if not isinstance(network, nn.Module):
            raise TypeError(f"model() must return a torch.nn.Module, got {type(network).__name__}")
        return network

    def training_arguments(self) -> dict:
        """The keyword arguments handed to ``trainer`` after ``(model, data)``."""
        return {name: getattr(self, name) for name in (
            "optimizer", "lr", "momentum", "weight_decay", "epochs", "batch_size", "seed", "eval_every",
            "loss_fn", "callback", "on_step", "max_steps", "schedule", "device")}

    def train(self, network: nn.Module) -> History:
        """Train ``network`` in place with ``trainer``, then run ``finish``; return the History."""
        history = self.trainer(network, self.data, **self.training_arguments())
        if not isinstance(history, History):
            raise TypeError(f"trainer must return a lecturelib.train.History, got {type(history).__name__}")
        if self.finish is not None:
            self.finish(network, history)
        return history

    def train_device(self) -> torch.device:
        """Where the run trains and where its model is handed back."""
        return resolve_device(self.device)

    def describe(self) -> dict:
        """Every field but ``name`` and ``data`` as JSON values (``data`` is fingerprinted apart)."""
        out = {}
        for spec_field in fields(self):
            if spec_field.name in ("name", "data"):
                continue
            out[spec_field.name] = describe(getattr(self, spec_field.name), spec_field.name, set())
        out["device"] = self.train_device().type
        return out

    def source_fingerprint(self) -> str:
        """sha256 over the lecturelib version and the source of every module the run uses."""
        used: set[str] = set()
        for hook in _HOOKS:
            describe(getattr(self, hook), hook, used)
        digest = hashlib.sha256(__version__.encode())
        for module in sorted(import_closure(used)):
            digest.update(module.encode() + b"\0" + module_file(module).read_bytes())
        return digest.hexdigest()
