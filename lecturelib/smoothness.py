r"""Santurkar et al. (2018)'s measurements of how smooth the loss is along the gradient.

At a point :math:`\theta` of training, with minibatch loss :math:`L` and gradient
:math:`g = \nabla L(\theta)`, move along the gradient direction by fixed step sizes
:math:`\eta \in \{\eta_1, \dots, \eta_K\}` up to a bound, :math:`\theta_\eta = \theta - \eta g`, and record

* the **loss landscape**: the values :math:`L(\theta_\eta)`, summarised by their range
  :math:`\max_\eta L(\theta_\eta) - \min_\eta L(\theta_\eta)`;
* the **gradient predictiveness**: the changes :math:`\lVert\nabla L(\theta_\eta) - g\rVert_2`
  (small means the gradient at :math:`\theta` predicts the gradient a step away);
* the **effective β-smoothness**: the largest ratio
  :math:`\max_\eta \lVert\nabla L(\theta_\eta) - g\rVert_2 / \lVert\theta_\eta - \theta\rVert_2`,
  a local, directional estimate of the Lipschitz constant of the gradient.

All three are measured on the same minibatch at every :math:`\eta` (same point, same direction,
fixed steps), not as an envelope over separate runs with different learning rates. The network
stays in training mode, as during training, so a batch-normalised net uses batch statistics;
the measurement works on a copy, so the model's running statistics are untouched.
:class:`GradientStepProbe` takes the measurements along a run of :func:`lecturelib.train.fit`
(as its ``on_step`` hook).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ._checks import check_callable, check_finite_tensor, check_int, check_module, check_same_rows, check_seed, check_tensor
from .device import model_device
from .losses import default_loss

__all__ = ["gradient_step_profile", "GradientStepProbe"]


def _flat_grad(model, loss_fn, X, y):
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model(X), y)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads])


def _check_step_sizes(step_sizes):
    steps = np.asarray(step_sizes, dtype=np.float64) if not isinstance(step_sizes, torch.Tensor) \
        else step_sizes.detach().double().cpu().numpy()
    if steps.ndim != 1 or len(steps) == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise ValueError(f"step_sizes must be a non-empty 1-D sequence of positive numbers, got {step_sizes!r}")
    return steps


def gradient_step_profile(model: nn.Module, X: torch.Tensor, y: torch.Tensor, step_sizes, loss_fn=None) -> dict:
    r"""Loss and gradient at :math:`\theta - \eta\nabla L(\theta)` for each step size :math:`\eta`
    (Santurkar et al. 2018, Section 3.1), on the minibatch ``(X, y)``.

    Returns a dict of NumPy arrays over ``step_sizes`` (``"step_sizes"``, ``"loss"``,
    ``"grad_change"`` :math:`=\lVert\nabla L(\theta_\eta)-g\rVert_2`, ``"beta"``
    :math:`=\lVert\nabla L(\theta_\eta)-g\rVert_2/(\eta\lVert g\rVert_2)`) and floats
    ``"loss0"``, ``"grad_norm"`` :math:`\lVert g\rVert_2`, ``"loss_range"`` (max minus min of the
    loss over :math:`\{0\}\cup\{\eta_k\}`), ``"grad_change_max"`` and ``"effective_beta"``
    (the maximum of ``beta``). ``model`` itself is not modified.
    """
    check_module("model", model)
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be torch.Tensors, got {type(X).__name__} and {type(y).__name__}")
    if len(X) != len(y) or len(X) < 2:
        raise ValueError(f"X and y must hold the same number (>= 2) of samples, got {len(X)} and {len(y)}")
    check_finite_tensor("X", X)
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)
    steps = _check_step_sizes(step_sizes)
    loss_fn = loss_fn or default_loss(y)
    probe = copy.deepcopy(model).train()  # training mode, as during training; buffers are a copy
    params = [p for p in probe.parameters() if p.requires_grad]
    theta = nn.utils.parameters_to_vector(params).detach().clone()  # (P,)
    loss0, grad0 = _flat_grad(probe, loss_fn, X, y)  # grad0: (P,)
    grad_norm = float(grad0.norm())
    losses, changes = [], []
    for eta in steps:
        nn.utils.vector_to_parameters(theta - float(eta) * grad0, params)
        loss, grad = _flat_grad(probe, loss_fn, X, y)
        losses.append(loss)
        changes.append(float((grad - grad0).norm()))
    losses, changes = np.array(losses), np.array(changes)
    beta = changes / (steps * max(grad_norm, 1e-30))
    return {"step_sizes": steps, "loss": losses, "grad_change": changes, "beta": beta, "loss0": loss0,
            "grad_norm": grad_norm, "loss_range": float(max(losses.max(), loss0) - min(losses.min(), loss0)),
            "grad_change_max": float(changes.max()), "effective_beta": float(beta.max())}


class GradientStepProbe:
    r"""An ``on_step`` hook for :func:`lecturelib.train.fit` that runs :func:`gradient_step_profile`
    every ``every`` optimiser steps (step 0, before the first, included): Santurkar et al.'s (2018,
    Section 3.1) measurements along training.

    At step :math:`t` it measures on a minibatch of ``batch_size`` training samples drawn without
    replacement from ``(X, y)`` by a generator seeded with ``(seed, t)``, so the same step always
    sees the same minibatch and the probe holds no state between calls. It returns
    ``{"step", "train_loss", "loss_min", "loss_max", "grad_change_min", "grad_change_max",
    "effective_beta", "loss", "grad_change"}``, which ``fit`` appends to ``history.extras``:
    ``train_loss`` is the minibatch loss at :math:`\theta`, ``loss_min``/``loss_max`` the range of
    the loss over :math:`\{0\} \cup \{\eta_k\}`, ``loss``/``grad_change`` one value per step size.
    The measurement works on a copy of the model, so training is unchanged.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, step_sizes, every: int, batch_size: int = 64,
                 seed: int = 0, loss_fn=None):
        check_tensor("X", X, min_ndim=2, floating=True, finite=True)
        check_tensor("y", y, min_ndim=1)
        check_same_rows(("X", "y"), X, y)
        self.every = check_int("every", every, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=2, maximum=len(X))
        self.seed = check_seed("seed", seed)
        self.step_sizes = [float(eta) for eta in _check_step_sizes(step_sizes)]
        if loss_fn is not None:
            check_callable("loss_fn", loss_fn)
        self.X, self.y, self.loss_fn = X, y, loss_fn

    def describe(self) -> dict:
        return {"X": self.X, "y": self.y, "step_sizes": self.step_sizes, "every": self.every,
                "batch_size": self.batch_size, "seed": self.seed, "loss_fn": self.loss_fn}

    def minibatch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch measured at ``step``: ``(batch_size, ...)`` inputs and their targets."""
        generator = torch.Generator().manual_seed((self.seed << 32) + check_int("step", step, minimum=0))
        index = torch.randperm(len(self.X), generator=generator)[:self.batch_size]
        return self.X[index], self.y[index]

    def __call__(self, model: nn.Module, step: int) -> dict | None:
        if step % self.every:
            return None
        where = model_device(model)
        X, y = (tensor.to(where) for tensor in self.minibatch(step))
        profile = gradient_step_profile(model, X, y, self.step_sizes, self.loss_fn)
        losses = np.append(profile["loss"], profile["loss0"])
        return {"step": step, "train_loss": profile["loss0"], "loss_min": float(losses.min()),
                "loss_max": float(losses.max()), "grad_change_min": float(profile["grad_change"].min()),
                "grad_change_max": profile["grad_change_max"], "effective_beta": profile["effective_beta"],
                "loss": profile["loss"].tolist(), "grad_change": profile["grad_change"].tolist()}
