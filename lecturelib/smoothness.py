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
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .data import DataSplit
from ._checks import (check_callable, check_finite_tensor, check_int, check_module, check_positive, check_seed,
                      check_type)
from .losses import default_loss

__all__ = ["gradient_step_profile", "measure_during_training"]


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


def measure_during_training(model: nn.Module, data: DataSplit, lr: float, steps: int, measure_every: int,
                            step_sizes, batch_size: int = 64, seed: int = 0, loss_fn=None) -> dict:
    r"""Train ``model`` in place with plain SGD (:math:`\theta \leftarrow \theta - \text{lr}\,g`)
    for ``steps`` minibatch steps and, every ``measure_every`` steps (step 0 included), run
    :func:`gradient_step_profile` on the current minibatch before taking the step.

    Returns a dict of NumPy arrays indexed by measurement: ``"step"``, ``"train_loss"``
    (minibatch loss), ``"loss_min"``, ``"loss_max"`` (loss range along the gradient),
    ``"grad_change_min"``, ``"grad_change_max"`` (gradient predictiveness), ``"effective_beta"``;
    plus ``"loss"`` and ``"grad_change"`` of shape ``(measurements, len(step_sizes))``.
    Minibatches are drawn with a CPU generator seeded by ``seed``, so runs repeat exactly.
    """
    check_module("model", model)
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    check_positive("lr", lr)
    for name, value in (("steps", steps), ("measure_every", measure_every), ("batch_size", batch_size)):
        check_int(name, value, minimum=1)
    if batch_size < 2 or batch_size > len(data.X_train):
        raise ValueError(f"batch_size must lie in [2, {len(data.X_train)}], got {batch_size}")
    _check_step_sizes(step_sizes)
    check_finite_tensor("X_train", data.X_train)
    loss_fn = loss_fn or default_loss(data.y_train)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    record = {key: [] for key in ("step", "train_loss", "loss_min", "loss_max", "grad_change_min",
                                  "grad_change_max", "effective_beta", "loss", "grad_change")}
    model.train()
    n_batches = len(data.X_train) // batch_size
    order = torch.randperm(len(data.X_train), generator=generator)
    for step in range(steps + 1):
        position = step % n_batches
        if position == 0 and step > 0:
            order = torch.randperm(len(data.X_train), generator=generator)
        index = order[position * batch_size:(position + 1) * batch_size]
        xb, yb = data.X_train[index], data.y_train[index]  # (batch, features), (batch,)
        if step % measure_every == 0:
            profile = gradient_step_profile(model, xb, yb, step_sizes, loss_fn)
            losses = np.append(profile["loss"], profile["loss0"])
            record["step"].append(step)
            record["train_loss"].append(profile["loss0"])
            record["loss_min"].append(float(losses.min()))
            record["loss_max"].append(float(losses.max()))
            record["grad_change_min"].append(float(profile["grad_change"].min()))
            record["grad_change_max"].append(profile["grad_change_max"])
            record["effective_beta"].append(profile["effective_beta"])
            record["loss"].append(profile["loss"])
            record["grad_change"].append(profile["grad_change"])
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()
    return {key: np.array(value) for key, value in record.items()}
