r"""How input preprocessing changes the conditioning of a least-squares problem.

For inputs :math:`X \in \mathbb R^{N\times d}` and targets :math:`Y \in \mathbb R^{N\times k}`,
the linear least-squares loss with a bias,

.. math::
    L(w) = \frac{1}{2N}\,\lVert \tilde X w - Y \rVert_F^2,\qquad \tilde X = [X,\ \mathbf 1],

has the constant Hessian :math:`H = \tilde X^T \tilde X / N` (the second-moment matrix of the
inputs, which is the covariance only when the inputs are centred). Gradient descent
:math:`w_{t+1} = w_t - \eta \nabla L(w_t)` with :math:`\eta = 1/\lambda_{\max}` shrinks the error
along eigenvector :math:`i` by :math:`1 - \lambda_i/\lambda_{\max}` per step, so the number of
steps to a tolerance grows like the condition number :math:`\kappa = \lambda_{\max}/\lambda_{\min}`
(LeCun et al., *Efficient BackProp*, 1998/2012, section 4.3 and 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import check_finite_tensor, check_int, check_nonnegative, check_real, check_seed, check_tensor, check_type

__all__ = ["design_matrix", "least_squares_hessian", "least_squares_solution", "condition_number",
           "GradientDescentRun", "gradient_descent_steps", "exact_steps", "predicted_steps", "gaussian_cloud"]


def _check_unit(name, value) -> float:
    """``tol`` and ``rtol``: a number strictly between 0 and 1."""
    if not 0.0 < check_real(name, value) < 1.0:
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}")
    return float(value)


def _check_lr(lr, top) -> float:
    """A step size for which gradient descent on a quadratic with top curvature ``top`` converges."""
    if not 0.0 < check_real("lr", lr) < 2.0 / top:
        raise ValueError(f"lr must be a number in (0, 2/lambda_max) = (0, {2.0 / top:.4g}) for this data, got {lr!r}")
    return float(lr)


def _check_positive_int(name, value) -> int:
    if check_int(name, value) < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _as_matrix(X, name="X") -> torch.Tensor:
    check_tensor(name, X)
    if X.dim() != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a (samples, features) matrix, got shape {tuple(X.shape)}")
    if not torch.is_floating_point(X) or not torch.isfinite(X).all():
        raise ValueError(f"{name} must hold finite floating-point values")
    return X.detach().double()


def _as_targets(Y, n) -> torch.Tensor:
    Y = check_tensor("Y", Y).detach().double()
    if Y.dim() == 1:
        Y = Y[:, None]
    if Y.dim() != 2 or Y.shape[0] != n:
        raise ValueError(f"Y must have shape ({n},) or ({n}, k) to match X, got {tuple(Y.shape)}")
    if not torch.isfinite(Y).all():
        raise ValueError("Y must hold finite values")
    return Y


def design_matrix(X: torch.Tensor, fit_bias: bool = True) -> torch.Tensor:
    r""":math:`\tilde X = [X, \mathbf 1]` in float64 (``(N, d+1)``), or ``X`` itself without a bias."""
    check_type("fit_bias", fit_bias, bool, "True or False")
    X = _as_matrix(X)
    return torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1) if fit_bias else X


def least_squares_hessian(X: torch.Tensor, fit_bias: bool = True) -> torch.Tensor:
    r"""The Hessian :math:`H = \tilde X^T\tilde X/N` of :math:`L(w) = \frac1{2N}\lVert\tilde Xw - Y\rVert^2`
    (per output column), ``(d+1, d+1)`` float64."""
    Xt = design_matrix(X, fit_bias)  # (N, d+1)
    return Xt.T @ Xt / len(Xt)


def least_squares_solution(X: torch.Tensor, Y: torch.Tensor, fit_bias: bool = True) -> torch.Tensor:
    r"""The minimum-norm minimiser :math:`w^* = \tilde X^+ Y`, ``(d+1, k)`` float64."""
    Xt = design_matrix(X, fit_bias)
    Y = _as_targets(Y, len(Xt))
    return torch.linalg.lstsq(Xt, Y, driver="gelsd").solution


def condition_number(H: torch.Tensor, rtol: float = 1e-10) -> float:
    r"""The condition number :math:`\kappa = \lambda_{\max}/\lambda_{\min}` of a symmetric
    positive semi-definite ``H``, over the eigenvalues above ``rtol * lambda_max``.

    Directions with (numerically) zero curvature are left out: for least squares they are input
    directions along which the data never vary (e.g. a pixel that is always 0), gradient descent
    never moves along them and the loss does not depend on them. What remains is the condition
    number that governs convergence of the loss.
    """
    check_tensor("H", H)
    if H.dim() != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"H must be a square matrix, got shape {tuple(H.shape)}")
    check_finite_tensor("H", H)
    _check_unit("rtol", rtol)
    H = H.detach().double()
    if not torch.allclose(H, H.T, rtol=1e-10, atol=1e-12 * float(H.abs().max().clamp_min(1e-300))):
        raise ValueError("H must be symmetric")
    eigenvalues = torch.linalg.eigvalsh(H)
    top = float(eigenvalues[-1])
    if top <= 0:
        raise ValueError(f"H must have a positive eigenvalue, its largest is {top:.3g}")
    if float(eigenvalues[0]) < -1e-8 * top:
        raise ValueError(f"H must be positive semi-definite, its smallest eigenvalue is {float(eigenvalues[0]):.3g}")
    kept = eigenvalues[eigenvalues > rtol * top]
    return top / float(kept[0])


@dataclass
class GradientDescentRun:
    """Result of :func:`gradient_descent_steps`: the steps taken, whether the tolerance was met,
    the step size, and the relative excess loss :math:`(L(w_t) - L^*)/(L(w_0) - L^*)` per step."""

    steps: int
    converged: bool
    lr: float
    relative_excess: list[float] = field(repr=False)


def gradient_descent_steps(X: torch.Tensor, Y: torch.Tensor, tol: float = 1e-6, lr: float | None = None,
                           max_steps: int = 100_000, fit_bias: bool = True, record_every: int = 1) -> GradientDescentRun:
    r"""Run full-batch gradient descent on :math:`L(w) = \frac1{2N}\lVert\tilde Xw - Y\rVert^2` from
    :math:`w_0 = 0` until the relative excess loss :math:`(L(w_t)-L^*)/(L(w_0)-L^*)` is at most ``tol``.

    The gradient is :math:`\nabla L(w) = Hw - \tilde X^T Y/N`; the step size defaults to
    :math:`\eta = 1/\lambda_{\max}(H)`, the largest step for which every eigen-direction decays
    monotonically. Stops after ``max_steps`` (then ``converged`` is False). ``relative_excess`` is
    recorded every ``record_every`` steps (step 0 first). Runs in float64.
    """
    Xt = design_matrix(X, fit_bias)  # (N, d+1)
    Y = _as_targets(Y, len(Xt))  # (N, k)
    _check_unit("tol", tol)
    _check_positive_int("max_steps", max_steps)
    _check_positive_int("record_every", record_every)
    n = len(Xt)
    H = (Xt.T @ Xt / n).numpy()  # (d+1, d+1)
    b = (Xt.T @ Y / n).numpy()  # (d+1, k)
    c = float((Y ** 2).sum()) / (2 * n)  # L(w) = w^T H w / 2 - w^T b + c, summed over outputs
    top = float(np.linalg.eigvalsh(H)[-1])
    if lr is None:
        lr = 1.0 / top
    else:
        _check_lr(lr, top)
    w_star = least_squares_solution(X, Y, fit_bias).numpy()
    loss_star = 0.5 * float(np.sum(w_star * (H @ w_star))) - float(np.sum(w_star * b)) + c
    w = np.zeros_like(b)
    initial_excess = c - loss_star
    if initial_excess <= 0:
        return GradientDescentRun(0, True, float(lr), [0.0])
    history = [1.0]
    steps, relative = 0, 1.0
    Hw = H @ w  # (d+1, k)
    while steps < max_steps:
        w = w - lr * (Hw - b)  # w - lr * grad L(w)
        Hw = H @ w
        steps += 1
        loss = 0.5 * float(np.sum(w * Hw)) - float(np.sum(w * b)) + c
        relative = max(loss - loss_star, 0.0) / initial_excess
        if steps % record_every == 0:
            history.append(relative)
        if relative <= tol:
            break
    if steps % record_every and history[-1] != relative:
        history.append(relative)
    return GradientDescentRun(steps, relative <= tol, float(lr), history)


def predicted_steps(H: torch.Tensor, tol: float = 1e-6, rtol: float = 1e-10) -> float:
    r"""The worst-case estimate :math:`t \approx \kappa \ln(1/\text{tol})` of the number of steps of
    gradient descent with :math:`\eta = 1/\lambda_{\max}` (from :math:`(1-1/\kappa)^{2t} \le \text{tol}`,
    so :math:`t = \ln(1/\text{tol}) / (-2\ln(1 - 1/\kappa))`)."""
    _check_unit("tol", tol)
    kappa = condition_number(H, rtol)
    if kappa == 1.0:
        return 1.0
    return math.log(1.0 / tol) / (-2.0 * math.log1p(-1.0 / kappa))


def exact_steps(X: torch.Tensor, Y: torch.Tensor, tol: float = 1e-6, lr: float | None = None,
                fit_bias: bool = True, max_steps: int = 10**12) -> int:
    r"""The number of gradient-descent steps :func:`gradient_descent_steps` would take, computed
    from the spectrum of :math:`H` instead of by iterating (so it is cheap even for millions of steps).

    With :math:`H = \sum_i \lambda_i u_i u_i^T` and :math:`e_0 = w_0 - w^* = -w^*`, the excess loss
    after :math:`t` steps is :math:`\tfrac12 \sum_i \lambda_i \lVert u_i^T e_0\rVert^2 (1 - \eta\lambda_i)^{2t}`,
    a decreasing function of :math:`t` for :math:`0 < \eta < 2/\lambda_{\max}`; a doubling and
    bisection search finds the first :math:`t` at which it falls to ``tol`` times its initial value.
    Returns ``max_steps + 1`` if more than ``max_steps`` would be needed.
    """
    Xt = design_matrix(X, fit_bias)
    Y = _as_targets(Y, len(Xt))
    _check_unit("tol", tol)
    _check_positive_int("max_steps", max_steps)
    H = Xt.T @ Xt / len(Xt)
    eigenvalues, vectors = torch.linalg.eigh(H)
    top = float(eigenvalues[-1])
    if lr is None:
        lr = 1.0 / top
    else:
        _check_lr(lr, top)
    w_star = least_squares_solution(X, Y, fit_bias)  # (d+1, k)
    weights = eigenvalues.clamp_min(0) * ((vectors.T @ w_star) ** 2).sum(dim=1)  # lambda_i |u_i^T e_0|^2
    keep = weights > 0
    weights, rates = weights[keep], (1.0 - lr * eigenvalues[keep]).abs()  # rates in [0, 1)
    total = float(weights.sum())
    if total == 0.0:
        return 0

    def relative(t: int) -> float:  # (L(w_t) - L*) / (L(w_0) - L*)
        return float((weights * torch.exp(2 * t * torch.log(rates.clamp_min(1e-300)))).sum()) / total

    if relative(0) <= tol:
        return 0
    high = 1
    while relative(high) > tol:
        if high > max_steps:
            return max_steps + 1
        high *= 2
    low = high // 2  # relative(low) > tol >= relative(high)
    while high - low > 1:
        middle = (low + high) // 2
        if relative(middle) > tol:
            low = middle
        else:
            high = middle
    return high if high <= max_steps else max_steps + 1


def gaussian_cloud(n: int = 500, mean=(4.0, 2.0), stds=(3.0, 0.3), angle_degrees: float = 30.0,
                   noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A correlated 2-D Gaussian cloud and a linear target: :math:`x = \mu + R_\theta\,
    \mathrm{diag}(s)\,z`, :math:`z \sim N(0, I)`, and :math:`y = 1.5 x_1 - 2 x_2 + 0.5 + \varepsilon`,
    :math:`\varepsilon \sim N(0, \text{noise}^2)`. Returns ``X`` ``(n, 2)`` and ``y`` ``(n,)``, float64."""
    check_int("n", n, minimum=3)
    for name, pair in (("mean", mean), ("stds", stds)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"{name} must be a pair of finite numbers, got {pair!r}")
        for v in pair:
            check_real(name, v)
    if not all(v > 0 for v in stds):
        raise ValueError(f"stds must be positive, got {stds!r}")
    check_real("angle_degrees", angle_degrees)
    check_nonnegative("noise", noise)
    check_seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    theta = math.radians(angle_degrees)
    rotation = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
                            dtype=torch.float64)
    z = torch.randn(n, 2, generator=generator, dtype=torch.float64)  # (n, 2)
    X = torch.tensor(mean, dtype=torch.float64) + (z * torch.tensor(stds, dtype=torch.float64)) @ rotation.T
    y = 1.5 * X[:, 0] - 2.0 * X[:, 1] + 0.5 + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return X, y
