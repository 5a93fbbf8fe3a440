r"""Training and evaluation: minimise :math:`\frac1N\sum_i L(m(x_i;\theta), y_i)` with minibatch SGD.

The loss is cross-entropy (the multiclass logistic loss
:math:`L(u, y) = \log\sum_j e^{u_j} - u_y`) for integer targets and the squared error
:math:`L(u, y) = \|u - y\|_2^2` (averaged over outputs, PyTorch's ``mse_loss``) for float
targets, unless a ``loss_fn`` is given. Runs on :func:`lecturelib.device.get_device` and are
deterministic on the CPU for a fixed ``seed`` (which orders the minibatches).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import (check_callable, check_finite_tensor, check_input_dtype, check_int, check_module,
                      check_nonnegative, check_positive, check_same_rows, check_seed, check_targets, check_tensor,
                      check_type)
from ..data import DataSplit
from ..device import resolve_device
from ..losses import default_loss
from .progress import epoch_bar, wants_progress

__all__ = ["History", "make_optimizer", "fit", "evaluate", "OPTIMIZERS"]


@dataclass
class History:
    """Per-evaluation record of a run. Index 0 is the untrained model (epoch 0).

    ``train_accuracy``/``test_accuracy`` stay empty for regression. ``extras`` holds whatever the
    ``callback`` of :func:`fit` returned, one list per key.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    extras: dict[str, list] = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0

    def final(self) -> dict[str, float]:
        """The last evaluation, e.g. ``{"epoch": 100, "train_loss": 0.01, ...}``."""
        out = {"epoch": self.epoch[-1], "train_loss": self.train_loss[-1], "test_loss": self.test_loss[-1]}
        if self.train_accuracy:
            out.update(train_accuracy=self.train_accuracy[-1], test_accuracy=self.test_accuracy[-1])
        return out

    def to_dict(self) -> dict:
        """Plain lists and numbers (what :mod:`lecturelib.cache` stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> "History":
        return cls(**record)


OPTIMIZERS = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
}


def make_optimizer(optimizer, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """Build an optimiser from a name in :data:`OPTIMIZERS`, or a callable ``params -> Optimizer``."""
    lr = check_positive("lr", lr)
    momentum = check_nonnegative("momentum", momentum)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)} "
                             "or pass a callable params -> torch.optim.Optimizer")
        kwargs = {"lr": lr, "weight_decay": weight_decay}
        if key in ("sgd", "rmsprop"):
            kwargs["momentum"] = momentum
        elif momentum:
            raise ValueError(f"momentum={momentum} only applies to 'sgd' and 'rmsprop', not {key!r}")
        return OPTIMIZERS[key](params, **kwargs)
    if callable(optimizer):
        built = optimizer(params)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError(f"optimizer callable must return a torch.optim.Optimizer, got {type(built).__name__}")
        return built
    raise TypeError(f"optimizer must be a name or a callable, got {type(optimizer).__name__}")


_STANDARD_LOSSES = (None, F.mse_loss, F.cross_entropy)


def _check_inputs(model, X, y, names):
    """The checks a data set passes once before ``model`` sees it: one target per sample, at least
    one sample, finite inputs of the model's dtype."""
    check_tensor(names[0], X, min_ndim=1, nonempty=True)
    check_tensor(names[1], y, min_ndim=1)
    check_same_rows(names, X, y)
    check_finite_tensor(names[0], X)
    check_input_dtype(names[0], X, model)


def _check_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module):
    """An optimiser built on ``model``: it holds every trainable parameter and nothing else (by identity)."""
    own = {id(p) for p in model.parameters()}
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    foreign = len(held - own)
    missing = sum(1 for p in model.parameters() if p.requires_grad and id(p) not in held)
    if foreign or missing:
        raise ValueError(f"optimizer ({type(optimizer).__name__}) must be built on this model's parameters: it holds "
                         f"{foreign} tensors that are not the model's and lacks {missing} of its trainable ones; "
                         "build it with model.parameters() or pass a name such as 'sgd'")


@torch.no_grad()
def _evaluate_tensors(model, X, y, loss_fn, batch_size, check: str | None = None):
    """Mean loss and accuracy; with ``check`` (the targets' name), the targets are first checked
    against the model's outputs on the first batch."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        out = model(xb)
        if check is not None and start == 0:
            check_targets(check, y, out)
        total_loss += float(loss_fn(out, yb)) * len(xb)
        if not torch.is_floating_point(yb):
            correct += int((out.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return total_loss / len(X), correct / len(X)


def evaluate(model: nn.Module, data, split: str = "test", loss_fn=None, batch_size: int = 4096) -> dict:
    """Mean loss (and accuracy for classification) of ``model`` in evaluation mode.

    ``data`` is a :class:`DataSplit` (``split`` is ``"train"`` or ``"test"``) or a tuple ``(X, y)``.
    Returns ``{"loss": float}`` plus ``"accuracy"`` (a fraction in [0, 1]) for integer targets.
    """
    check_module("model", model)
    parameter = next(model.parameters(), None)
    if parameter is None:
        raise ValueError(f"model ({type(model).__name__}) has no parameters, so there is no device or dtype to "
                         "evaluate it with; evaluate a network with weights")
    if isinstance(data, DataSplit):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
        names = (f"X_{split}", f"y_{split}")
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        names = ("X", "y")
    else:
        raise TypeError(f"data must be a DataSplit or a tuple (X, y), got {type(data).__name__}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)
    _check_inputs(model, X, y, names)
    device = parameter.device
    check = names[1] if loss_fn in _STANDARD_LOSSES else None
    loss_fn = loss_fn or default_loss(y)
    loss, accuracy = _evaluate_tensors(model, X.to(device), y.to(device), loss_fn, batch_size, check)
    return {"loss": loss} if torch.is_floating_point(y) else {"loss": loss, "accuracy": accuracy}


def fit(model: nn.Module, data: DataSplit, optimizer="sgd", lr: float = 0.1, epochs: int = 100,
        batch_size: int | None = None, loss_fn=None, momentum: float = 0.0, weight_decay: float = 0.0,
        seed: int = 0, eval_every: int = 1, callback=None, progress: bool | None = None,
        device=None, on_step=None, max_steps: int | None = None, schedule=None) -> History:
    """Train ``model`` in place on ``data.X_train`` and return its :class:`History`.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, a callable
            ``params -> Optimizer``, or an optimiser already built on ``model.parameters()``.
        batch_size: minibatch size; ``None`` means full-batch gradient descent.
        seed: orders the minibatches (a CPU ``torch.Generator``), so runs repeat exactly on the CPU.
        eval_every: evaluate train and test loss every this many epochs (and after the last).
        callback: ``callback(model, epoch) -> dict | None``, called at every evaluation (epoch 0
            included); returned values are appended to ``history.extras``.
        progress: show a progress bar over the epochs, with the last training loss (it appears
            once the run has lasted 2 s: :mod:`lecturelib.train.progress`); ``None`` follows
            ``LECTURELIB_PROGRESS``.
        device: where to train; defaults to :func:`lecturelib.device.get_device`.
        on_step: ``on_step(model, step) -> dict | None``, called once with ``step = 0`` before the
            first optimiser step and after every step with the number of steps taken so far;
            returned values are appended to ``history.extras`` (the model is put back in training
            mode afterwards, so a hook may evaluate it).
        max_steps: stop after this many optimiser steps; the run then ends with an evaluation in
            the epoch where it stopped.
        schedule: ``schedule(step) -> factor``: before optimiser step ``step`` (0-based) every
            parameter group's learning rate is its initial rate times ``factor``, as
            ``torch.optim.lr_scheduler.LambdaLR`` stepped once per optimiser step does.

    Before the first step it refuses (``TypeError``/``ValueError`` naming the argument) NaN or
    infinite hyperparameters, empty or non-finite inputs, inputs of another dtype than the model,
    an optimiser holding other parameters than the model's trainable ones and, with the default
    losses, labels outside the model's outputs or float targets of another shape than the outputs.
    """
    check_module("model", model)
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    epochs = check_int("epochs", epochs, minimum=0)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    n_train = len(data.X_train)
    batch_size = n_train if batch_size is None else check_int("batch_size", batch_size, minimum=1)
    seed = check_seed("seed", seed)
    for name, hook in (("callback", callback), ("on_step", on_step), ("schedule", schedule)):
        if hook is not None:
            check_callable(name, hook)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, minimum=1)
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)
    device = resolve_device(device)
    for split in ("train", "test"):
        _check_inputs(model, getattr(data, f"X_{split}"), getattr(data, f"y_{split}"), (f"X_{split}", f"y_{split}"))
    if isinstance(optimizer, torch.optim.Optimizer):
        _check_optimizer(optimizer, model)
    model.to(device)
    if isinstance(optimizer, torch.optim.Optimizer):
        opt = optimizer
    else:
        opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    check = ("y_train", "y_test") if loss_fn in _STANDARD_LOSSES else (None, None)
    loss_fn = loss_fn or default_loss(data.y_train)
    X, y = data.X_train.to(device), data.y_train.to(device)
    X_test, y_test = data.X_test.to(device), data.y_test.to(device)
    history = History()
    classification = not torch.is_floating_point(y)

    def record(epoch):
        train_loss, train_acc = _evaluate_tensors(model, X, y, loss_fn, 8192, check[0] if epoch == 0 else None)
        test_loss, test_acc = _evaluate_tensors(model, X_test, y_test, loss_fn, 8192, check[1] if epoch == 0 else None)
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.test_loss.append(test_loss)
        if classification:
            history.train_accuracy.append(train_acc)
            history.test_accuracy.append(test_acc)

    base_rates = [group["lr"] for group in opt.param_groups]

    def step(xb, yb):
        if schedule is not None:
            factor = schedule_factor(schedule, history.steps)
            for group, base in zip(opt.param_groups, base_rates):
                group["lr"] = base * factor
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()

    return run_epochs(model, X, y, step, record, history, epochs=epochs, batch_size=batch_size, seed=seed,
                      eval_every=eval_every, max_steps=max_steps, callback=callback, on_step=on_step,
                      progress=wants_progress(progress))


def run_epochs(model: nn.Module, X: torch.Tensor, y: torch.Tensor, step, record, history: History, *, epochs: int,
               batch_size: int, seed: int, eval_every: int, max_steps: int | None, callback, on_step,
               progress: bool, description: str = "training") -> History:
    """The loop :func:`fit` and :func:`lecturelib.train.fit_stacked` share, on checked arguments.

    ``record(epoch)`` appends one evaluation to ``history`` (epoch 0 first); ``step(xb, yb)`` takes
    one optimiser step. Each epoch draws a fresh minibatch order, ``torch.randperm`` from a CPU
    generator seeded with ``seed`` (full batches when ``batch_size`` covers the data), so a run
    repeats exactly on the CPU. Hooks run as :func:`fit` documents. With ``progress`` a bar
    named ``description`` counts the epochs.
    """
    n_train = len(X)
    generator = torch.Generator().manual_seed(seed)

    def evaluate_at(epoch):
        record(epoch)
        if callback is not None:
            append_extras(history, "callback", callback, callback(model, epoch), f"epoch {epoch}")

    def after_step(count):
        if on_step is not None:
            append_extras(history, "on_step", on_step, on_step(model, count), f"step {count}")
            model.train()

    bar = epoch_bar(epochs, description, progress)
    start = time.perf_counter()
    evaluate_at(0)
    model.train()
    after_step(0)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_train, generator=generator).to(X.device) if batch_size < n_train else None
        for begin in range(0, n_train, batch_size):
            if order is None:
                xb, yb = X, y
            else:
                idx = order[begin:begin + batch_size]
                xb, yb = X[idx], y[idx]
            step(xb, yb)
            history.steps += 1
            after_step(history.steps)
            if history.steps == max_steps:
                break
        stopped = history.steps == max_steps
        if epoch % eval_every == 0 or epoch == epochs or stopped:
            evaluate_at(epoch)
            if bar is not None:
                last = history.train_loss[-1]  # a list of member losses for a stack
                shown = last if isinstance(last, float) else sum(last) / len(last)
                bar.set_postfix(train_loss=f"{shown:.4g}", refresh=False)
        if bar is not None:
            bar.update(1)
        if stopped:
            break
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history


def append_extras(history: History, role: str, hook, extras, when: str) -> None:
    """Append the dict a hook returned to ``history.extras``; anything but a dict or None is an error."""
    if extras is None:
        return
    if not isinstance(extras, dict):
        name = getattr(hook, "__name__", type(hook).__name__)
        raise TypeError(f"{role} {name} returned {type(extras).__name__} ({extras!r:.60}) at {when}; "
                        "it must return a dict name -> value or None")
    for key, value in extras.items():
        history.extras.setdefault(key, []).append(value)


def schedule_factor(schedule, step: int) -> float:
    """``schedule(step)``, checked: a finite factor >= 0 on every initial learning rate."""
    factor = schedule(step)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor < 0:
        name = getattr(schedule, "__name__", type(schedule).__name__)
        raise ValueError(f"schedule {name} returned {factor!r} at step {step}; it must return a finite "
                         "number >= 0 (the factor on the initial learning rate)")
    return float(factor)
