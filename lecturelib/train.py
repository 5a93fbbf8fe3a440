r"""Training and evaluation: minimise :math:`\frac1N\sum_i L(m(x_i;\theta), y_i)` with minibatch SGD.

The loss is cross-entropy (the multiclass logistic loss
:math:`L(u, y) = \log\sum_j e^{u_j} - u_y`) for integer targets and the squared error
:math:`L(u, y) = \|u - y\|_2^2` (averaged over outputs, PyTorch's ``mse_loss``) for float
targets, unless a ``loss_fn`` is given. Runs on :func:`lecturelib.device.get_device` and are
deterministic on the CPU for a fixed ``seed`` (which orders the minibatches).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import DataSplit
from .device import get_device, progress_enabled

__all__ = ["History", "default_loss", "make_optimizer", "fit", "evaluate", "OPTIMIZERS"]


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


def default_loss(y: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy for integer targets, mean squared error for floating-point targets."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(y).__name__}")
    return F.mse_loss if torch.is_floating_point(y) else F.cross_entropy


OPTIMIZERS = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
}


def make_optimizer(optimizer, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
    """Build an optimiser from a name in :data:`OPTIMIZERS`, or a callable ``params -> Optimizer``."""
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
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


def _check_model_and_data(model, data):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a lecturelib.data.DataSplit, got {type(data).__name__}")


@torch.no_grad()
def _evaluate_tensors(model, X, y, loss_fn, batch_size):
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        out = model(xb)
        total_loss += float(loss_fn(out, yb)) * len(xb)
        if not torch.is_floating_point(yb):
            correct += int((out.argmax(dim=1) == yb).sum())
    model.train(was_training)
    n = max(len(X), 1)
    return total_loss / n, correct / n


def evaluate(model: nn.Module, data, split: str = "test", loss_fn=None, batch_size: int = 4096) -> dict:
    """Mean loss (and accuracy for classification) of ``model`` in evaluation mode.

    ``data`` is a :class:`DataSplit` (``split`` is ``"train"`` or ``"test"``) or a tuple ``(X, y)``.
    Returns ``{"loss": float}`` plus ``"accuracy"`` (a fraction in [0, 1]) for integer targets.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(data, DataSplit):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
    else:
        raise TypeError(f"data must be a DataSplit or a tuple (X, y), got {type(data).__name__}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = next(model.parameters()).device
    loss_fn = loss_fn or default_loss(y)
    loss, accuracy = _evaluate_tensors(model, X.to(device), y.to(device), loss_fn, batch_size)
    return {"loss": loss} if torch.is_floating_point(y) else {"loss": loss, "accuracy": accuracy}


def fit(model: nn.Module, data: DataSplit, optimizer="sgd", lr: float = 0.1, epochs: int = 100,
        batch_size: int | None = None, loss_fn=None, momentum: float = 0.0, weight_decay: float = 0.0,
        seed: int = 0, eval_every: int = 1, callback=None, progress: bool | None = None,
        device=None) -> History:
    """Train ``model`` in place on ``data.X_train`` and return its :class:`History`.

    Args:
        optimizer: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, a callable
            ``params -> Optimizer``, or an optimiser already built on ``model.parameters()``.
        batch_size: minibatch size; ``None`` means full-batch gradient descent.
        seed: orders the minibatches (a CPU ``torch.Generator``), so runs repeat exactly on the CPU.
        eval_every: evaluate train and test loss every this many epochs (and after the last).
        callback: ``callback(model, epoch) -> dict | None``, called at every evaluation (epoch 0
            included); returned values are appended to ``history.extras``.
        progress: show a tqdm bar (appears only if the run lasts over 2 s); ``None`` follows
            ``LECTURELIB_PROGRESS``.
        device: where to train; defaults to :func:`lecturelib.device.get_device`.
    """
    _check_model_and_data(model, data)
    for name, value in (("epochs", epochs), ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "epochs" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'epochs' else 'positive'} int, got {value!r}")
    n_train = len(data.X_train)
    if batch_size is None:
        batch_size = n_train
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    if isinstance(optimizer, torch.optim.Optimizer):
        opt = optimizer
    else:
        opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    loss_fn = loss_fn or default_loss(data.y_train)
    X, y = data.X_train.to(device), data.y_train.to(device)
    X_test, y_test = data.X_test.to(device), data.y_test.to(device)
    generator = torch.Generator().manual_seed(int(seed))
    history = History()
    classification = not torch.is_floating_point(y)

    def record(epoch):
        train_loss, train_acc = _evaluate_tensors(model, X, y, loss_fn, 8192)
        test_loss, test_acc = _evaluate_tensors(model, X_test, y_test, loss_fn, 8192)
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.test_loss.append(test_loss)
        if classification:
            history.train_accuracy.append(train_acc)
            history.test_accuracy.append(test_acc)
        if callback is not None:
            for key, value in (callback(model, epoch) or {}).items():
                history.extras.setdefault(key, []).append(value)

    show = progress_enabled() if progress is None else bool(progress)
    bar = None
    if show and epochs > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="training", unit="epoch", delay=2.0, leave=False)
    start = time.perf_counter()
    record(0)
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_train, generator=generator).to(device) if batch_size < n_train else None
        for begin in range(0, n_train, batch_size):
            if order is None:
                xb, yb = X, y
            else:
                idx = order[begin:begin + batch_size]
                xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            history.steps += 1
        if epoch % eval_every == 0 or epoch == epochs:
            record(epoch)
            if bar is not None:
                bar.set_postfix(train_loss=f"{history.train_loss[-1]:.4g}", refresh=False)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history
