r"""Flatness of a minimum: Keskar et al.'s box sharpness and the per-sample gradients.

* :func:`keskar_sharpness`: the :math:`\epsilon`-box sharpness of Keskar et al. (2017).
* :func:`per_sample_gradient_norms`: :math:`\|\nabla f_i(\theta)\|_2` for every sample, with
  ``vmap(grad)``: small values everywhere make an "individually flat" minimum (Giselsson's lecture).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import grad, vmap

from .._checks import check_int, check_positive, check_seed
from .operator import HessianOperator, check_data, eval_mode

__all__ = ["keskar_sharpness", "Sharpness", "per_sample_gradients", "per_sample_gradient_norms"]


@dataclass(frozen=True)
class Sharpness:
    r"""Keskar et al.'s sharpness ``value`` (in percent), the loss at the minimum ``base_loss``,
    the largest loss found in the box ``max_loss``, and the maximising ``perturbation`` ``(P,)``."""

    value: float
    base_loss: float
    max_loss: float
    perturbation: torch.Tensor

    def __float__(self) -> float:
        return self.value


def keskar_sharpness(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epsilon: float = 1e-3, steps: int = 10,
                     loss_fn=None, random_start: bool = False, seed: int = 0,
                     batch_size: int | None = None) -> Sharpness:
    r"""Sharpness of Keskar et al. (2017, metric 2.1) in the full parameter space (:math:`A = I`):

    .. math::

        \phi_{\theta,f}(\epsilon) = 100\cdot\frac{\max_{z \in C_\epsilon} f(\theta + z) - f(\theta)}
        {1 + f(\theta)}, \qquad C_\epsilon = \{z : |z_i| \le \epsilon(|\theta_i| + 1)\}.

    Keskar et al. solve the inner maximisation with 10 iterations of L-BFGS-B; here ``steps``
    projected sign-gradient ascent steps of size :math:`2.5\,b/\text{steps}` with
    :math:`b_i = \epsilon(|\theta_i|+1)` (Madry et al.'s rule) from :math:`z = 0` (or a seeded
    uniform point of the box), keeping the best point seen. It is a lower bound of the true maximum.
    """
    operator = HessianOperator(model, X, y, loss_fn, batch_size)
    check_positive("epsilon", epsilon)
    check_int("steps", steps, minimum=1)
    check_seed("seed", seed)
    theta = operator.theta
    bound = epsilon * (theta.abs() + 1)  # (P,) half-widths of the box
    if random_start:
        generator = torch.Generator().manual_seed(seed)
        z = (torch.rand(operator.size, generator=generator, dtype=torch.float64) * 2 - 1).to(theta) * bound
    else:
        z = torch.zeros_like(theta)
    base = operator.loss()
    best_loss, best_z = operator.loss(theta + z), z.clone()
    step = 2.5 * bound / steps
    for _ in range(steps):
        direction = torch.sign(operator.gradient(theta + z)).to(theta.dtype)
        z = torch.clamp(z + step * direction, -bound, bound)
        value = operator.loss(theta + z)
        if value > best_loss:
            best_loss, best_z = value, z.clone()
    return Sharpness(100.0 * (best_loss - base) / (1.0 + base), base, best_loss, best_z.double().cpu())


def per_sample_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn=None,
                         chunk: int = 512) -> torch.Tensor:
    r"""Every sample's gradient :math:`\nabla_\theta f_i(\theta)`, :math:`f_i = L(m(x_i;\theta), y_i)`,
    as rows of a ``(N, P)`` tensor, computed with ``vmap(grad)`` over ``chunk`` samples at a time.
    Their mean is the full gradient :math:`\nabla f(\theta)`."""
    operator = HessianOperator(model, X, y, loss_fn)
    check_int("chunk", chunk, minimum=1)

    def sample_loss(theta, x, target):
        return operator.loss_at(theta, x[None], target[None])

    rows = []
    with eval_mode(model):
        for start in range(0, len(operator.X), chunk):
            xb, yb = operator.X[start:start + chunk], operator.y[start:start + chunk]
            rows.append(vmap(grad(sample_loss), in_dims=(None, 0, 0))(operator.theta, xb, yb))
    return torch.cat(rows)


def per_sample_gradient_norms(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn=None,
                              chunk: int = 512) -> torch.Tensor:
    r""":math:`\|\nabla_\theta f_i(\theta)\|_2` for every sample, ``(N,)`` float64.

    At a minimum :math:`\nabla f = \frac1N\sum_i\nabla f_i = 0`, yet the individual gradients need
    not vanish; the lecture calls a minimum where they are all small *individually flat*. Their mean
    square is the trace of the gradient-noise covariance that minibatch SGD feels.
    """
    check_int("chunk", chunk, minimum=1)
    check_data(model, X, y, loss_fn)
    norms = []
    for start in range(0, len(X), chunk):
        rows = per_sample_gradients(model, X[start:start + chunk], y[start:start + chunk], loss_fn, chunk)
        norms.append(rows.double().norm(dim=1).cpu())
    return torch.cat(norms)
