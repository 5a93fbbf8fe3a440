r"""Regularisation written out: dropout, the two L1 updates, and an exponential moving average of the weights.

* :func:`dropout`, :class:`Dropout` (from :mod:`lecturelib.models.dropout`): the lecture's
  keep-probability convention, inverted or vanilla (Srivastava et al. 2014).
* :func:`l1_proximal_step`: the proximal map of :math:`t\|\cdot\|_1`, soft-thresholding

  .. math:: \operatorname{prox}_{t|\cdot|}(w) = \arg\min_u\ t|u| + \tfrac12 (u - w)^2
            = \operatorname{sign}(w)\,\max(|w| - t,\ 0)

  (Tibshirani 1996; Beck & Teboulle 2009): a proximal gradient step on
  :math:`L(w) + \lambda\|w\|_1` is ``l1_proximal_step(w - lr * grad, lr * lam)``, and it sets
  small weights exactly to zero.
* :func:`l1_subgradient_step`: the lecture's plain update
  :math:`w \leftarrow w - \eta\,(\nabla L(w) + \lambda\,\operatorname{sign}(w))`, which makes weights
  oscillate around zero instead of reaching it.
* :class:`ExponentialMovingAverage`: the test-time weights
  :math:`x_{\text{test}} \leftarrow \beta\,x_{\text{test}} + (1 - \beta)\,x` after every step
  (Polyak & Juditsky 1992; the lecture's :math:`\beta = 0.995`), equal to
  ``torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))``;
  :class:`EMAHook` keeps one during :func:`lecturelib.train.fit` as its ``on_step`` hook.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._checks import check_choice, check_int, check_module, check_nonnegative, check_real, check_tensor, check_type
from .data import DataSplit
from .models.dropout import Dropout, dropout
from .train import evaluate

__all__ = ["dropout", "Dropout", "l1_proximal_step", "l1_subgradient_step", "ExponentialMovingAverage",
           "EMAHook", "ema_callback", "BUFFER_POLICIES"]


def l1_proximal_step(w: torch.Tensor, threshold: float) -> torch.Tensor:
    r"""Soft-thresholding :math:`\operatorname{sign}(w)\max(|w| - t, 0)`, entry by entry: the exact
    minimiser of :math:`t|u| + \tfrac12 (u - w)^2` (module docstring). ``threshold`` :math:`t \ge 0`;
    entries with :math:`|w| \le t` become exactly 0. Returns a new tensor."""
    check_tensor("w", w, floating=True)
    threshold = check_nonnegative("threshold", threshold)
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def l1_subgradient_step(w: torch.Tensor, grad: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    r"""The lecture's subgradient step on :math:`L(w) + \lambda\|w\|_1`:
    :math:`w - \eta\,(\nabla L(w) + \lambda\operatorname{sign}(w))`, with :math:`\operatorname{sign}(0) = 0`.
    ``grad`` has ``w``'s shape; ``lr`` :math:`\eta > 0`, ``lam`` :math:`\lambda \ge 0`. Returns a new tensor."""
    check_tensor("w", w, floating=True)
    check_tensor("grad", grad, shape=tuple(w.shape), floating=True)
    lr = check_real("lr", lr, minimum=0.0, open_min=True)
    lam = check_nonnegative("lam", lam)
    return w - lr * (grad + lam * torch.sign(w))


BUFFER_POLICIES = ("average", "copy")  # what ExponentialMovingAverage does with a model's buffers


class ExponentialMovingAverage:
    r"""An exponential moving average of a model's weights, kept in a copy of the model.

    ``ema = ExponentialMovingAverage(model, decay=0.995)`` copies ``model`` into ``ema.averaged``;
    each ``ema.update(model)`` then sets, for every parameter,

    .. math:: x_{\text{test}} \leftarrow \text{decay}\cdot x_{\text{test}} + (1 - \text{decay})\cdot x,

    computed as ``x_test.lerp_(x, 1 - decay)`` (the same number, rounded as torch's EMA does).
    Buffers (batch-norm statistics): with ``buffers="average"`` floating buffers are averaged the same
    way and integer ones (``num_batches_tracked``) copied; with ``buffers="copy"`` every buffer is
    copied from ``model``. ``"average"`` equals ``AveragedModel(..., use_buffers=True)`` on the floating
    buffers, ``"copy"`` equals ``AveragedModel(..., use_buffers=False)``; both average the parameters
    exactly as ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))`` does when its first
    ``update_parameters`` comes at creation. ``ema.averaged`` is a ``torch.nn.Module`` whose parameters
    need no gradient; ``ema.updates`` counts the updates.
    """

    def __init__(self, model: nn.Module, decay: float = 0.995, buffers: str = "average"):
        check_module("model", model)
        self.decay = check_real("decay", decay, minimum=0.0, maximum=1.0, open_max=True)
        self.buffers = check_choice("buffers", buffers, BUFFER_POLICIES)
        self.averaged = copy.deepcopy(model)
        for parameter in self.averaged.parameters():
            parameter.requires_grad_(False)
        self._names = self._layout(model)
        self.updates = 0

    @staticmethod
    def _layout(model):
        return ([(name, tuple(p.shape)) for name, p in model.named_parameters()],
                [(name, tuple(b.shape)) for name, b in model.named_buffers()])

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step of the average towards ``model``'s current weights (see the class docstring)."""
        check_module("model", model)
        if self._layout(model) != self._names:
            raise ValueError("model has other parameters or buffers (names or shapes) than the model this "
                             "average was made from; average one network")
        weight = 1.0 - self.decay
        for mine, theirs in zip(self.averaged.parameters(), model.parameters()):
            mine.lerp_(theirs.detach().to(mine.device), weight)
        for mine, theirs in zip(self.averaged.buffers(), model.buffers()):
            theirs = theirs.detach().to(mine.device)
            if self.buffers == "average" and torch.is_floating_point(mine):
                mine.lerp_(theirs, weight)
            else:
                mine.copy_(theirs)
        self.updates += 1

    def __repr__(self) -> str:
        return (f"ExponentialMovingAverage(decay={self.decay}, buffers={self.buffers!r}, updates={self.updates}, "
                f"averaged={type(self.averaged).__name__})")


class EMAHook:
    r"""An ``on_step`` hook for :func:`lecturelib.train.fit` that keeps an :class:`ExponentialMovingAverage`.

    At step 0 (before the first optimiser step) it starts a fresh average from the model; after
    every step it updates it, so after :math:`T` steps ``hook.averaged`` holds
    :math:`x_{\text{test}} = \beta^T x_0 + (1-\beta)\sum_{t=1}^T \beta^{T-t} x_t`. With ``data``
    (a :class:`~lecturelib.data.DataSplit`) and ``every``, every ``every`` steps (step 0 included) it
    returns the averaged model's test loss and accuracy as ``ema_test_loss`` / ``ema_test_accuracy``,
    which ``fit`` appends to ``history.extras`` (so a cached run keeps them). ``hook.finish`` is a
    ``RunSpec.finish`` that loads the averaged weights into the trained model, so the run stores the
    average. The hook is describable (:meth:`describe`), so a :class:`~lecturelib.cache.RunSpec` keys it.
    """

    def __init__(self, decay: float = 0.995, buffers: str = "average", data: DataSplit | None = None,
                 every: int | None = None):
        self.decay = check_real("decay", decay, minimum=0.0, maximum=1.0, open_max=True)
        self.buffers = check_choice("buffers", buffers, BUFFER_POLICIES)
        if data is not None:
            check_type("data", data, DataSplit, "a lecturelib.data.DataSplit or None")
        if (data is None) != (every is None):
            raise ValueError(f"data and every go together: give both to evaluate the average every few steps, or "
                             f"neither; got data={'a DataSplit' if data is not None else None}, every={every!r}")
        self.data = data
        self.every = None if every is None else check_int("every", every, minimum=1)
        self.ema: ExponentialMovingAverage | None = None

    @property
    def averaged(self) -> nn.Module:
        """The averaged model of the last run this hook watched."""
        if self.ema is None:
            raise RuntimeError("this EMAHook has not watched a run yet: pass it to train.fit(..., on_step=hook)")
        return self.ema.averaged

    def __call__(self, model: nn.Module, step: int):
        if step == 0 or self.ema is None:
            self.ema = ExponentialMovingAverage(model, self.decay, self.buffers)
        else:
            self.ema.update(model)
        if self.every is not None and step % self.every == 0:
            result = evaluate(self.ema.averaged, self.data, "test")
            return {f"ema_test_{key}": value for key, value in result.items()}
        return None

    def finish(self, model: nn.Module, history=None) -> None:
        """Load the averaged weights (and buffers) into ``model``: a ``RunSpec.finish`` hook."""
        check_module("model", model)
        model.load_state_dict(self.averaged.state_dict())

    def describe(self) -> dict:
        return {"decay": self.decay, "buffers": self.buffers, "data": self.data, "every": self.every}

    def __repr__(self) -> str:
        return f"EMAHook(decay={self.decay}, buffers={self.buffers!r}, every={self.every})"


def ema_callback(decay: float = 0.995, buffers: str = "average", data: DataSplit | None = None,
                 every: int | None = None) -> EMAHook:
    """An :class:`EMAHook` for ``train.fit(..., on_step=ema_callback(0.995))``; keep it to read ``.averaged``."""
    return EMAHook(decay, buffers, data, every)
