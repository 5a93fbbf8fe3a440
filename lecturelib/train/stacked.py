r"""Training a :class:`~lecturelib.models.StackedMLP`: every member at once, one batched step each time.

The loss is the sum of the members' own losses, :math:`\sum_m L_m(\theta_m)`, so each member's
gradient is exactly the one it would get alone, and an element-wise optimiser steps each member
exactly as its own would. A step is computed in one of two ways (``computation``):

* ``"torch"``: autograd's gradient of :math:`\sum_m L_m`, and the step of a ``torch.optim``
  optimiser over the stack (:func:`lecturelib.train.make_optimizer`), with one learning rate;
* ``"written"``: the lecture's backward recursion batched over members
  (:meth:`StackedMLP.loss_and_gradient`, mean squared error), and SGD or Adam written out with a
  learning rate :math:`\eta_m` per member. With :math:`g = \nabla L_m + \lambda\theta` (weight
  decay :math:`\lambda`) they are ``torch.optim``'s formulas, element by element:

  * ``"sgd"``: :math:`b \leftarrow \mu b + g`, :math:`\theta \leftarrow \theta - \eta_m b` (momentum :math:`\mu`);
  * ``"adam"`` (Kingma & Ba 2015): :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
    :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
    :math:`\theta \leftarrow \theta - \frac{\eta_m}{1-\beta_1^t}\, m / (\sqrt{v/(1-\beta_2^t)} + \epsilon)`
    with :math:`\beta = (0.9, 0.999)`, :math:`\epsilon = 10^{-8}`.

  It needs no autograd graph, so it is the faster one for deep stacks; it runs with subnormal
  numbers flushed to zero (the tiny gradients of deep plain nets, squared by Adam, are otherwise
  slow on the CPU). Padding weights (zero, with zero gradient) never move.

Both give the same training up to rounding (about 1e-9 relative in float64); a chapter keeps the
computation its stored results were made with.
"""

from __future__ import annotations

import math

import torch

from .._checks import (check_callable, check_choice, check_finite_tensor, check_int, check_nonnegative,
                      check_positive, check_seed, check_type)
from ..data import DataSplit
from ..device import preserved_torch_state, resolve_device
from ..models.stacked import StackedMLP
from .loop import History, make_optimizer, run_epochs, schedule_factor
from .progress import wants_progress

__all__ = ["fit_stacked", "COMPUTATIONS", "WRITTEN_OPTIMIZERS"]

COMPUTATIONS = ("torch", "written")
WRITTEN_OPTIMIZERS = ("sgd", "adam")
_BETAS, _EPS = (0.9, 0.999), 1e-8


def fit_stacked(model: StackedMLP, data: DataSplit, optimizer="sgd", lr=0.1, momentum: float = 0.0,
                weight_decay: float = 0.0, epochs: int = 100, batch_size: int | None = None, seed: int = 0,
                eval_every: int = 1, loss_fn=None, callback=None, on_step=None, max_steps: int | None = None,
                schedule=None, device=None, computation: str = "torch", progress: bool | None = None) -> History:
    """Train every member of ``model`` in place on the regression data ``data``; return the :class:`History`.

    Arguments are those of :func:`lecturelib.train.fit` (so :class:`lecturelib.cache.RunSpec` can
    call it), with these differences:

    * ``lr``: one number, or (``computation="written"``) one per member;
    * ``optimizer``: with ``"torch"`` a name of :data:`lecturelib.train.OPTIMIZERS` or a callable
      ``params -> Optimizer``; with ``"written"`` ``"sgd"`` or ``"adam"``;
    * ``loss_fn``: ``loss_fn(outputs (K, N, d), y (N, d)) -> (K,)`` per-member losses (``"torch"``
      only); ``None`` is each member's mean squared error;
    * every entry of ``history.train_loss``/``history.test_loss`` is a list, one value per member;
    * ``progress``: the bar, as :func:`~lecturelib.train.fit`'s, is named after the number of
      members and shows their mean training loss.

    ``batch_size=None`` is full-batch training; minibatches, ordered by ``seed``, are shared by all
    members. Training runs on one thread (the matrices are tiny), on ``device`` or
    :func:`lecturelib.device.get_device`; torch's global state is restored afterwards.
    """
    check_type("model", model, StackedMLP, "a lecturelib.models.StackedMLP")
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    computation = check_choice("computation", computation, COMPUTATIONS)
    epochs = check_int("epochs", epochs, minimum=0)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    n_train = len(data.X_train)
    batch_size = n_train if batch_size is None else check_int("batch_size", batch_size, minimum=1)
    seed = check_seed("seed", seed)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, minimum=1)
    for name, hook in (("callback", callback), ("on_step", on_step), ("schedule", schedule), ("loss_fn", loss_fn)):
        if hook is not None:
            check_callable(name, hook)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        check_finite_tensor(name, getattr(data, name))
    n_out = model.widths[0][-1]
    for name in ("y_train", "y_test"):
        y = getattr(data, name)
        if not torch.is_floating_point(y) or y.dim() != 2 or y.shape[1] != n_out:
            raise ValueError(f"{name} must hold float regression targets of shape (N, {n_out}), got "
                             f"{y.dtype} of shape {tuple(y.shape)}")
    rates = [lr] * model.n_members if not isinstance(lr, (list, tuple)) else list(lr)
    if len(rates) != model.n_members:
        raise ValueError(f"lr must be one number or {model.n_members} of them (one per member), got {len(rates)}")
    for m, rate in enumerate(rates):
        check_positive(f"lr[{m}]" if isinstance(lr, (list, tuple)) else "lr", rate)
    momentum = check_nonnegative("momentum", momentum)
    weight_decay = check_nonnegative("weight_decay", weight_decay)
    if computation == "written":
        if not isinstance(optimizer, str) or optimizer.lower() not in WRITTEN_OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {WRITTEN_OPTIMIZERS} with computation='written', "
                             f"got {optimizer!r}")
        if momentum and optimizer.lower() == "adam":
            raise ValueError(f"momentum={momentum} only applies to 'sgd', not 'adam'")
        if loss_fn is not None:
            raise ValueError("computation='written' trains on the mean squared error; loss_fn must be None")
        if model._prelu:
            raise ValueError("computation='written' needs activations without parameters; PReLU members need 'torch'")
    elif len(set(rates)) > 1:
        raise ValueError("one learning rate per member needs computation='written'; torch.optim holds one "
                         "for the stack")
    device = resolve_device(device)
    with preserved_torch_state():
        torch.set_num_threads(1)  # the matrices are tiny: extra threads only add synchronisation
        if computation == "written":
            torch.set_flush_denormal(True)
        model.to(device)
        dtype = model.theta.dtype
        splits = [(getattr(data, f"X_{s}").to(device, dtype), getattr(data, f"y_{s}").to(device, dtype))
                  for s in ("train", "test")]
        if computation == "written":
            step = _WrittenStep(model, optimizer.lower(), rates, momentum, weight_decay)
        else:
            step = _TorchStep(model, make_optimizer(optimizer, model.parameters(), rates[0], momentum, weight_decay),
                              loss_fn)
        return _loop(model, splits, step, epochs, batch_size, seed, eval_every, loss_fn, callback, on_step,
                     max_steps, schedule, wants_progress(progress))


def _loop(model, splits, step, epochs, batch_size, seed, eval_every, loss_fn, callback, on_step, max_steps,
          schedule, progress) -> History:
    """:func:`lecturelib.train.fit`'s loop over epochs and minibatches (``run_epochs``), for a stack:
    each evaluation records one loss per member."""
    (X, y), test = splits
    history = History()

    def record(epoch):
        with torch.no_grad():
            for target, (inputs, targets) in ((history.train_loss, (X, y)), (history.test_loss, test)):
                losses = model.losses(inputs, targets) if loss_fn is None else loss_fn(model(inputs), targets)
                target.append(losses.tolist())
        history.epoch.append(epoch)

    def take_step(xb, yb):
        step(xb, yb, history.steps, None if schedule is None else schedule_factor(schedule, history.steps))

    return run_epochs(model, X, y, take_step, record, history, epochs=epochs, batch_size=batch_size, seed=seed,
                      eval_every=eval_every, max_steps=max_steps, callback=callback, on_step=on_step,
                      progress=progress, description=f"training {model.n_members} nets")


class _TorchStep:
    """Autograd's gradient of the summed member losses, then ``optimizer.step()``."""

    def __init__(self, model, optimizer, loss_fn):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.base_rates = [group["lr"] for group in optimizer.param_groups]

    def __call__(self, X, y, step, factor):
        if factor is not None:
            for group, base in zip(self.optimizer.param_groups, self.base_rates):
                group["lr"] = base * factor
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.model.losses(X, y) if self.loss_fn is None else self.loss_fn(self.model(X), y)
        losses.sum().backward()
        self.optimizer.step()


class _WrittenStep:
    """The batched backward recursion, then SGD or Adam written out with one rate per member (module docstring)."""

    def __init__(self, model, optimizer, rates, momentum, weight_decay):
        self.model, self.adam, self.momentum, self.weight_decay = model, optimizer == "adam", momentum, weight_decay
        theta = model.theta
        self.rate = torch.tensor(rates, dtype=theta.dtype, device=theta.device).view(-1, 1)  # (K, 1)
        self.first_moment = torch.zeros_like(theta, requires_grad=False)
        self.second_moment = torch.zeros_like(theta, requires_grad=False)

    @torch.no_grad()
    def __call__(self, X, y, step, factor):
        theta = self.model.theta
        _, grad = self.model.loss_and_gradient(X, y)
        rate = self.rate if factor is None else self.rate * factor
        if self.weight_decay:
            grad.add_(theta, alpha=self.weight_decay)
        t = step + 1  # Adam's step count, from 1
        if self.adam:
            beta1, beta2 = _BETAS
            self.first_moment.lerp_(grad, 1 - beta1)
            self.second_moment.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (self.second_moment.sqrt() / math.sqrt(1 - beta2 ** t)).add_(_EPS)
            theta.addcdiv_(self.first_moment, denom * ((1 - beta1 ** t) / rate), value=-1.0)
        else:
            if self.momentum:
                grad = self.first_moment.mul_(self.momentum).add_(grad)
            theta.sub_(rate * grad)
