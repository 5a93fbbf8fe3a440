r"""Lipschitz constants of fully connected networks: spectral-norm upper bounds, empirical lower bounds.

A network is :math:`L`-Lipschitz in its input when
:math:`\|m(x_1;\theta) - m(x_2;\theta)\|_2 \le L\|x_1 - x_2\|_2` for all inputs. With
:math:`L_\sigma`-Lipschitz activations the lecture (Giselsson, *Deep Learning*, "Generalization:
norm of weights"; Bartlett et al. 2017) bounds

.. math::

    L \le \prod_{j} c_j, \qquad c_j = \begin{cases} L_\sigma\|W_j\|_2 & \text{plain hidden layer}\\
    1 + L_\sigma\|W_j\|_2 & \text{residual hidden layer}\\ \|W_n\|_2 & \text{last (affine) layer,}\end{cases}

which is :math:`\prod_j\|W_j\|_2` when :math:`L_\sigma = 1`. Any measured ratio
:math:`\|m(x_1) - m(x_2)\|/\|x_1 - x_2\|`, or any Jacobian norm :math:`\|\partial m/\partial x\|_2`
at a point of differentiability, is a lower bound on the true constant.

Every function takes an ``nn.Module`` (an :class:`~lecturelib.models.MLP` for the upper bounds) or its
functional view :class:`~lecturelib.models.Network`, and runs where the model is: inputs are moved to
its device and dtype (:mod:`lecturelib.device`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_finite_tensor, check_int, check_nonnegative, check_positive, check_seed, check_tensor
from .models.functional import Network, as_network

__all__ = ["ACTIVATION_LIPSCHITZ", "spectral_norms", "layer_lipschitz_factors", "lipschitz_upper_bound",
           "delta_norm_bounds", "jacobian_norms", "lipschitz_lower_bound_gradient", "lipschitz_lower_bound_pairs",
           "LipschitzEstimate"]

# Smallest L with |sigma(a) - sigma(b)| <= L |a - b|: the supremum of |sigma'|.
ACTIVATION_LIPSCHITZ = {"identity": 1.0, "sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "leaky_relu": 1.0,
                        "elu": 1.0}


def _activation_constant(name):
    """Registry constant of ``name``; ``"0.5*relu"`` (from ``models.scaled_activation``) gives 0.5 * 1."""
    if name in ACTIVATION_LIPSCHITZ:
        return ACTIVATION_LIPSCHITZ[name]
    alpha, _, base = name.partition("*")
    try:
        return float(alpha) * ACTIVATION_LIPSCHITZ[base]
    except (ValueError, KeyError):
        return None


def _network_and_constant(model, activation_lipschitz):
    network = as_network(model)
    if activation_lipschitz is None:
        constants = [_activation_constant(spec.name) for spec in network.activations]
        unknown = sorted({spec.name for spec, c in zip(network.activations, constants) if c is None})
        if unknown:
            raise ValueError(f"no known Lipschitz constant for activation(s) {unknown}; pass "
                             f"activation_lipschitz (known: {', '.join(ACTIVATION_LIPSCHITZ)})")
        activation_lipschitz = max(constants, default=1.0)
    return network, check_nonnegative("activation_lipschitz", activation_lipschitz)


def spectral_norms(model) -> torch.Tensor:
    r"""The spectral norms :math:`\|W_j\|_2 = \sigma_{\max}(W_j)` of every weight matrix, in layer order."""
    network = as_network(model)
    return torch.stack([torch.linalg.matrix_norm(W.detach().double(), ord=2) for W in network.weights])


def layer_lipschitz_factors(model, activation_lipschitz: float | None = None) -> torch.Tensor:
    r"""The factors :math:`c_j`: :math:`L_\sigma\|W_j\|_2`, :math:`1 + L_\sigma\|W_j\|_2` (residual) or :math:`\|W_n\|_2` (last).

    ``activation_lipschitz`` defaults to the registry value :data:`ACTIVATION_LIPSCHITZ`
    (``1`` for ReLU, tanh, ...; ``0.25`` for the sigmoid). Pass ``1.0`` for the lecture's bound.
    """
    network, constant = _network_and_constant(model, activation_lipschitz)
    norms = spectral_norms(network)
    factors = norms.clone()
    for k in range(network.depth - 1):
        factors[k] = 1.0 + constant * norms[k] if network.residual[k] else constant * norms[k]
    return factors


def lipschitz_upper_bound(model, activation_lipschitz: float | None = None) -> float:
    r"""The product :math:`\prod_j c_j` of :func:`layer_lipschitz_factors`: an upper bound on the
    network's Lipschitz constant (Bartlett et al. 2017; the lecture's :math:`\prod_j\|W_j\|_2`)."""
    return float(torch.prod(layer_lipschitz_factors(model, activation_lipschitz)))


def delta_norm_bounds(model, output_delta_norm: float = 1.0,
                      activation_lipschitz: float | None = None) -> torch.Tensor:
    r"""Backward-pass bounds :math:`\|\delta_j\|_2 \le \|\delta_{n+1}\|_2\prod_{i=j}^{n} c_i` for :math:`j = 1..n+1`.

    From :math:`\|W_j^\top(\delta_{j+1}\odot\sigma_j'(v_j))\|_2 \le L_\sigma\|W_j\|_2\|\delta_{j+1}\|_2` (plus
    :math:`\|\delta_{j+1}\|_2` for a residual layer), the lecture's vanishing/exploding-gradient estimate;
    the factors :math:`c_i` are those of :func:`layer_lipschitz_factors`. Entry ``k`` bounds :math:`\delta_{k+1}`.
    """
    output_delta_norm = check_nonnegative("output_delta_norm", output_delta_norm)
    factors = layer_lipschitz_factors(model, activation_lipschitz)  # c_1..c_n
    suffix = torch.flip(torch.cumprod(torch.flip(factors, [0]), 0), [0])  # prod_{i>=j} c_i
    return output_delta_norm * torch.cat([suffix, torch.ones(1, dtype=suffix.dtype, device=suffix.device)])


def _model_function(model):
    if isinstance(model, Network):
        return model.detach()  # differentiable in the input only
    if isinstance(model, torch.nn.Module):
        return model
    raise TypeError(f"model must be a torch.nn.Module or a models.Network, got {type(model).__name__}")


def _to_model(model, X: torch.Tensor) -> torch.Tensor:
    """``X`` detached, on the model's device and in its dtype: inputs go to the model (:mod:`lecturelib.device`)."""
    function = _model_function(model)
    tensors = function.weights if isinstance(function, Network) else function.parameters()
    reference = next((t for t in tensors if torch.is_floating_point(t)), None)
    if reference is None:
        return X.detach()
    return X.detach().to(device=reference.device, dtype=reference.dtype)


def _input_jacobians(model, X: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Input Jacobians ``(points, outputs, features)``, one backward pass per output.

    Rows are treated as independent samples (true for MLPs in evaluation mode), so the gradient of
    ``outputs[:, k].sum()`` with respect to ``X`` holds row ``k`` of every point's Jacobian.
    """
    function = _model_function(model)
    if not X.requires_grad:
        X = X.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = function(X)  # (points, outputs)
        rows = [torch.autograd.grad(outputs[:, k].sum(), X, create_graph=create_graph, retain_graph=True)[0]
                for k in range(outputs.shape[1])]
    return torch.stack(rows, dim=1)


def _check_points(X, name="X"):
    check_tensor(name, X)
    if X.dim() != 2 or len(X) < 1:
        raise ValueError(f"{name} must be a (points, features) tensor with at least one row, got {tuple(X.shape)}")
    check_finite_tensor(name, X)


def jacobian_norms(model, X: torch.Tensor) -> torch.Tensor:
    r""":math:`\|\partial m/\partial x\,(x_i)\|_2` (largest singular value of the input Jacobian) at every row of ``X``.

    The Jacobians come from one autograd pass per output; for a scalar output this is the
    input-gradient norm :math:`|m'(x)|` or :math:`\|\nabla_x m\|_2`.
    """
    _check_points(X)
    jacobians = _input_jacobians(model, _to_model(model, X))  # (points, outputs, features)
    return torch.linalg.matrix_norm(jacobians, ord=2).detach()


def lipschitz_lower_bound_gradient(model, X: torch.Tensor, steps: int = 0, lr: float = 0.05) -> float:
    r"""Lower bound :math:`\max_i \|\partial m/\partial x\,(x_i)\|_2` over the rows of ``X``.

    With ``steps > 0`` each point first climbs the squared Jacobian norm by gradient ascent (step
    ``lr``); works for smooth activations (for piecewise-linear ones the Jacobian is locally
    constant and the ascent has no gradient, so keep ``steps=0`` and sample many points).
    """
    _check_points(X)
    check_int("steps", steps, minimum=0)
    check_positive("lr", lr)
    points = _to_model(model, X).clone()
    for _ in range(steps):
        points.requires_grad_(True)
        objective = (_jacobian_frobenius_norms(model, points) ** 2).sum()
        grad, = torch.autograd.grad(objective, points)
        points = (points + lr * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)).detach()
    return float(jacobian_norms(model, points).max())


def _jacobian_frobenius_norms(model, X):
    """Frobenius norms of the input Jacobians, differentiable in ``X`` (used by the ascent)."""
    return _input_jacobians(model, X, create_graph=True).flatten(1).norm(dim=1)


@dataclass(frozen=True)
class LipschitzEstimate:
    """The best ratio found and the pair of inputs that attains it."""

    ratio: float
    x1: torch.Tensor
    x2: torch.Tensor


def lipschitz_lower_bound_pairs(model, X: torch.Tensor, n_pairs: int = 256, steps: int = 100,
                                lr: float = 0.1, seed: int = 0) -> LipschitzEstimate:
    r"""Lower bound :math:`\max \|m(x_1) - m(x_2)\|_2 / \|x_1 - x_2\|_2` over input pairs.

    Starts from ``n_pairs`` random pairs of rows of ``X`` and takes ``steps`` normalised gradient-ascent
    steps :math:`x \leftarrow x + \text{lr}\,\sigma_X\,g/\|g\|` (:math:`\sigma_X` the data's standard deviation) on
    both points of every pair to increase the ratio; returns the largest ratio seen. Any pair
    gives a valid lower bound, so the result never exceeds the true constant.
    """
    _check_points(X)
    check_int("n_pairs", n_pairs, minimum=1)
    check_int("steps", steps, minimum=0)
    check_positive("lr", lr)
    function = _model_function(model)
    X = _to_model(model, X)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))  # draws on the CPU, on any device
    first = torch.randint(len(X), (n_pairs,), generator=generator)
    noise = torch.randn(n_pairs, X.shape[1], generator=generator, dtype=X.dtype).to(X.device)
    jitter = 1e-3 * X.std().clamp_min(1e-6) * noise
    x1 = X[first].clone().requires_grad_(True)  # (pairs, features)
    x2 = (X[torch.randint(len(X), (n_pairs,), generator=generator)] + jitter).requires_grad_(True)
    step_size = lr * float(X.std().clamp_min(1e-6))
    best = (-1.0, None, None)

    def ratios():
        return (function(x1) - function(x2)).norm(dim=1) / (x1 - x2).norm(dim=1).clamp_min(1e-12)

    for step in range(steps + 1):
        r = ratios()
        i = int(torch.argmax(r.detach()))
        if r[i].item() > best[0]:
            best = (r[i].item(), x1[i].detach().clone(), x2[i].detach().clone())
        if step == steps:
            break
        grad1, grad2 = torch.autograd.grad(r.sum(), [x1, x2])  # each pair's ratio depends on its own points
        with torch.no_grad():
            for point, grad in ((x1, grad1), (x2, grad2)):
                point += step_size * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return LipschitzEstimate(*best)
