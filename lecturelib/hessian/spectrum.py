r"""The Hessian's spectrum from products :math:`Hv` alone (:class:`~lecturelib.hessian.operator.HessianOperator`).

* :func:`top_eigenvalues`: Lanczos (default) or power iteration with deflation (PyHessian,
  Yao et al. 2020), eigenvalues largest in magnitude first; :func:`operator_top_eigenvalues` does
  the same for an operator already built.
* :func:`hessian_trace`: Hutchinson's (1990) estimator :math:`\operatorname{tr}H = E[z^THz]`, or
  Hutch++ (Meyer et al. 2021), which takes the largest eigenvalues' share exactly.
* :func:`spectral_density`: stochastic Lanczos quadrature (Ubaru et al. 2017; Ghorbani et al. 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_callable, check_choice, check_int, check_positive, check_seed, check_tensor, check_type
from .operator import HessianOperator

__all__ = ["lanczos", "top_eigenvalues", "operator_top_eigenvalues", "hessian_trace", "TRACE_METHODS", "TraceEstimate",
           "spectral_density", "SpectralDensity"]


def _random_probes(size, count, generator, distribution="gaussian"):
    """``(count, size)`` float64 probes with independent Rademacher or standard Gaussian entries."""
    if distribution == "rademacher":
        return torch.randint(0, 2, (count, size), generator=generator, dtype=torch.float64) * 2 - 1
    return torch.randn(count, size, generator=generator, dtype=torch.float64)


def _random_unit(size, count, generator, distribution="gaussian"):
    z = _random_probes(size, count, generator, distribution)
    return z / z.norm(dim=1, keepdim=True)


def lanczos(matvec, start: torch.Tensor, steps: int):
    r"""``steps`` Lanczos iterations with full re-orthogonalisation, for a batch of start vectors.

    From :math:`q_1 = v/\|v\|`: :math:`\beta_j q_{j+1} = Hq_j - \alpha_j q_j - \beta_{j-1}q_{j-1}`
    with :math:`\alpha_j = q_j^T H q_j`, so that :math:`Q^T H Q = T` is tridiagonal. ``start`` is
    ``(r, P)`` (``r`` independent runs, one batched product per step). A run whose Krylov space is
    exhausted (:math:`\beta_j = 0`) continues with zero vectors, which only adds zero-weight nodes.

    Returns ``(alphas, betas, Q)`` of shapes ``(r, steps)``, ``(r, steps - 1)``, ``(r, steps, P)``,
    float64.
    """
    check_callable("matvec", matvec)
    check_tensor("start", start, ndim=2)
    check_int("steps", steps, minimum=1)
    runs, size = start.shape
    steps = min(steps, size)
    Q = torch.zeros(runs, steps, size, dtype=torch.float64, device=start.device)  # (r, m, P)
    alphas = torch.zeros(runs, steps, dtype=torch.float64, device=start.device)
    betas = torch.zeros(runs, max(steps - 1, 0), dtype=torch.float64, device=start.device)
    q = start.double() / start.double().norm(dim=1, keepdim=True)  # (r, P)
    scale = None
    for j in range(steps):
        Q[:, j] = q
        w = matvec(q)  # (r, P)
        alphas[:, j] = (w * q).sum(dim=1)
        for _ in range(2):  # full re-orthogonalisation, twice is enough (Parlett's "twice is enough")
            w = w - torch.einsum("rm,rmp->rp", torch.einsum("rmp,rp->rm", Q[:, :j + 1], w), Q[:, :j + 1])
        if j == steps - 1:
            break
        beta = w.norm(dim=1)  # (r,)
        scale = torch.maximum(alphas[:, :j + 1].abs().amax(dim=1), beta) if scale is None else \
            torch.maximum(scale, torch.maximum(alphas[:, j].abs(), beta))
        exhausted = beta <= 1e-10 * scale.clamp_min(1e-300)
        betas[:, j] = torch.where(exhausted, torch.zeros_like(beta), beta)
        q = torch.where(exhausted[:, None], torch.zeros_like(w), w / beta.clamp_min(1e-300)[:, None])
    return alphas, betas, Q


def _tridiagonal(alphas, betas):
    return torch.diag(alphas) + torch.diag(betas, 1) + torch.diag(betas, -1)


def top_eigenvalues(model: nn.Module, X: torch.Tensor, y: torch.Tensor, k: int = 1, loss_fn=None,
                    method: str = "lanczos", max_iterations: int = 200, tol: float = 1e-6, seed: int = 0,
                    return_eigenvectors: bool = False, batch_size: int | None = None):
    r"""The ``k`` Hessian eigenvalues largest in magnitude, :math:`|\lambda_1| \ge \dots \ge |\lambda_k|`.

    ``method="lanczos"`` runs Lanczos with full re-orthogonalisation from one seeded random vector
    and stops when every wanted Ritz value :math:`\theta_i` has residual
    :math:`|\beta_m s_{m,i}| \le` ``tol`` :math:`|\theta_i|` (an upper bound on
    :math:`\|Hu - \theta_i u\|`). ``method="power"`` is PyHessian's power iteration with deflation
    (Yao et al. 2020): iterate :math:`v \leftarrow (H - \sum_{j<i}\lambda_j u_ju_j^T)v/\|\cdot\|`
    until the Rayleigh quotient changes by less than ``tol`` relatively; it needs many more products.

    Returns a float64 tensor ``(k,)`` of eigenvalues (with their sign), and with
    ``return_eigenvectors=True`` also the unit eigenvectors as ``(k, P)``.
    """
    return operator_top_eigenvalues(HessianOperator(model, X, y, loss_fn, batch_size), k, method, max_iterations,
                                    tol, seed, return_eigenvectors)


def operator_top_eigenvalues(operator: HessianOperator, k: int = 1, method: str = "lanczos",
                             max_iterations: int = 200, tol: float = 1e-6, seed: int = 0,
                             return_eigenvectors: bool = False):
    """:func:`top_eigenvalues` of an operator already built (so a caller that also needs its loss
    or gradient builds it once)."""
    check_type("operator", operator, HessianOperator, "a lecturelib.hessian.HessianOperator")
    check_int("k", k, minimum=1)
    if k > operator.size:
        raise ValueError(f"k={k} exceeds the number of parameters P={operator.size}")
    check_choice("method", method, ("lanczos", "power"))
    check_int("max_iterations", max_iterations, minimum=1)
    check_positive("tol", tol)
    check_seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    if method == "power":
        values, vectors = _power_iteration(operator.matvec, operator.size, k, max_iterations, tol, generator)
    else:
        values, vectors = _lanczos_top(operator.matvec, operator.size, k, max_iterations, tol, generator)
    return (values, vectors) if return_eigenvectors else values


def _lanczos_top(matvec, size, k, max_iterations, tol, generator):
    q = _random_unit(size, 1, generator)[0]
    basis, alphas, betas = [], [], []
    q_prev, beta_prev = torch.zeros_like(q), 0.0
    limit = min(size, max(max_iterations, k + 1))
    for j in range(limit):
        basis.append(q)
        w = matvec(q)
        alpha = float(w @ q)
        alphas.append(alpha)
        w = w - alpha * q - beta_prev * q_prev
        Qm = torch.stack(basis)  # (m, P)
        for _ in range(2):
            w = w - Qm.T @ (Qm @ w)
        beta = float(w.norm())
        T = _tridiagonal(torch.tensor(alphas, dtype=torch.float64), torch.tensor(betas, dtype=torch.float64))
        ritz, S = torch.linalg.eigh(T)
        order = torch.argsort(ritz.abs(), descending=True)[:k]
        scale = float(ritz.abs().max())
        exhausted = beta <= 1e-10 * max(scale, 1e-300)
        residuals = (beta * S[-1, order]).abs()
        if len(alphas) >= k and (exhausted or bool(torch.all(residuals <= tol * ritz[order].abs().clamp_min(1e-12)))):
            break
        if exhausted:  # fewer than k Ritz values so far: restart in the orthogonal complement
            w = torch.randn(size, generator=generator, dtype=torch.float64)
            for _ in range(2):
                w = w - Qm.T @ (Qm @ w)
            beta = 0.0
            q_prev, beta_prev, q = q, 0.0, w / w.norm()
        else:
            q_prev, beta_prev, q = q, beta, w / beta
        betas.append(beta)
    vectors = (S[:, order].T @ torch.stack(basis)).to(q.device)  # (k, P)
    return ritz[order].clone(), vectors / vectors.norm(dim=1, keepdim=True)


def _power_iteration(matvec, size, k, max_iterations, tol, generator):
    values, vectors = [], []
    for _ in range(k):
        v = _random_unit(size, 1, generator)[0]
        value = None
        for _ in range(max_iterations):
            w = matvec(v)
            for lam, u in zip(values, vectors):  # deflate the eigenpairs already found
                w = w - lam * (u @ v) * u
            new_value = float(w @ v)
            v = w / w.norm().clamp_min(1e-300)
            if value is not None and abs(new_value - value) <= tol * (abs(value) + 1e-12):
                value = new_value
                break
            value = new_value
        values.append(value)
        vectors.append(v)
    return torch.tensor(values, dtype=torch.float64), torch.stack(vectors)


@dataclass(frozen=True)
class TraceEstimate:
    r"""A trace estimate: ``value`` :math:`= \frac1m\sum_l s_l`, its ``standard_error``
    :math:`\operatorname{std}(s)/\sqrt m`, and the ``samples`` :math:`s_l` ``(m,)``, for Hutchinson
    :math:`s_l = z_l^THz_l` (see :func:`hessian_trace` for Hutch++)."""

    value: float
    standard_error: float
    samples: torch.Tensor

    def __float__(self) -> float:
        return self.value


TRACE_METHODS = ("hutchinson", "hutch++")


def hessian_trace(model: nn.Module, X: torch.Tensor, y: torch.Tensor, probes: int = 100, loss_fn=None,
                  seed: int = 0, distribution: str = "rademacher", chunk: int = 25,
                  batch_size: int | None = None, method: str = "hutchinson") -> TraceEstimate:
    r"""Hutchinson's (1990) estimator :math:`\operatorname{tr} H \approx \frac1m\sum_{l=1}^m z_l^T H z_l`,
    or Hutch++ (Meyer, Musco, Musco & Woodruff 2021) with the same number ``probes`` of products.

    Probes :math:`z_l` have independent Rademacher (:math:`\pm1`, the minimum-variance choice,
    variance :math:`2\sum_{i\ne j}H_{ij}^2`) or standard Gaussian entries, drawn from a generator
    seeded with ``seed``; ``chunk`` probes share one vectorised product. A diagonal Hessian makes
    the Rademacher estimate exact.

    ``method="hutch++"`` spends the ``m = probes`` products in three parts. :math:`k = \lfloor m/3
    \rfloor` products :math:`HS` with random probes :math:`S` give an orthonormal basis :math:`Q` of
    their span, which holds the directions of the largest eigenvalues (one step of subspace
    iteration); :math:`k` more give :math:`\operatorname{tr}(Q^THQ)` exactly; the other
    :math:`r = m - 2k` estimate the trace of the rest by Hutchinson with probes projected off
    :math:`Q`, :math:`g_l' = (I - QQ^T)g_l`:

    .. math::

        \operatorname{tr} H \approx \operatorname{tr}(Q^THQ) + \frac1r\sum_{l=1}^r g_l'^T H g_l' .

    Its variance is Hutchinson's on :math:`(I - QQ^T)H(I - QQ^T)`, the Hessian with its largest
    eigenvalues taken out, so it is far smaller where a few outlying eigenvalues hold most of
    :math:`\|H\|_F`, as at the minima of trained networks. ``samples`` are then
    :math:`\operatorname{tr}(Q^THQ) + g_l'^THg_l'`, each an unbiased estimate, and
    ``standard_error`` is theirs. Needs ``probes >= 3``.
    """
    operator = HessianOperator(model, X, y, loss_fn, batch_size)
    check_int("probes", probes, minimum=1)
    check_int("chunk", chunk, minimum=1)
    check_seed("seed", seed)
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    check_choice("method", method, TRACE_METHODS)
    if method == "hutch++" and probes < 3:
        raise ValueError(f"probes must be at least 3 for method='hutch++' (a third each for the sketch, its "
                         f"exact trace and the rest), got {probes}")
    generator = torch.Generator().manual_seed(seed)

    def products(V):  # (count, P) -> H V row by row, ``chunk`` rows per product
        return torch.cat([operator.matvec(V[start:start + chunk]).cpu() for start in range(0, len(V), chunk)])

    def draw(count):  # (count, P), drawn ``chunk`` rows at a time (Gaussian draws depend on the split)
        return torch.cat([_random_probes(operator.size, min(chunk, count - start), generator, distribution)
                          for start in range(0, count, chunk)])

    exact, count = 0.0, probes
    if method == "hutch++":
        sketch = probes // 3
        Q = torch.linalg.qr(products(draw(sketch)).T).Q  # (P, k)
        exact = float((products(Q.T.contiguous()) * Q.T).sum())  # tr(Q^T H Q)
        count = probes - 2 * sketch
    G = draw(count)  # (r, P)
    if method == "hutch++":
        G = G - (G @ Q) @ Q.T  # off the sketched directions
    samples = exact + (products(G) * G).sum(dim=1)  # (r,)
    error = float(samples.std() / math.sqrt(count)) if count > 1 else float("nan")
    return TraceEstimate(float(samples.mean()), error, samples)


@dataclass(frozen=True)
class SpectralDensity:
    r"""Gauss quadrature rules from stochastic Lanczos quadrature: ``nodes`` :math:`\theta_{l,j}`
    and ``weights`` :math:`\tau_{l,j}` (each run's weights sum to 1), both ``(runs, steps)``, for
    a Hessian of size ``size``. The spectral measure :math:`\frac1P\sum_i\delta(t-\lambda_i)` is
    approximated by :math:`\frac1{r}\sum_l\sum_j \tau_{l,j}\,\delta(t-\theta_{l,j})`."""

    nodes: torch.Tensor
    weights: torch.Tensor
    size: int

    def density(self, grid, sigma: float) -> torch.Tensor:
        r"""The measure smoothed by a Gaussian of width ``sigma``:
        :math:`\phi_\sigma(t) = \frac1r\sum_{l,j}\tau_{l,j}\,\mathcal N(t;\theta_{l,j},\sigma^2)`, on ``grid``."""
        check_positive("sigma", sigma)
        grid = torch.as_tensor(grid, dtype=torch.float64)
        if grid.dim() != 1:
            raise ValueError(f"grid must be one-dimensional, got shape {tuple(grid.shape)}")
        gauss = torch.exp(-0.5 * ((grid[:, None, None] - self.nodes) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (gauss * self.weights).sum(dim=2).mean(dim=1)  # (len(grid),)

    def moment(self, power: int) -> float:
        r""":math:`\frac1P\operatorname{tr}H^p \approx \frac1r\sum_{l,j}\tau_{l,j}\theta_{l,j}^p`
        (exact per run, :math:`v^TH^pv` for the run's unit start vector, when :math:`p < 2\cdot` steps)."""
        check_int("power", power, minimum=0)
        return float((self.weights * self.nodes ** power).sum(dim=1).mean())

    def trace(self) -> float:
        r"""The SLQ estimate of :math:`\operatorname{tr} H = P \cdot` ``moment(1)``."""
        return self.size * self.moment(1)


def spectral_density(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int = 80, runs: int = 1,
                     loss_fn=None, seed: int = 0, batch_size: int | None = None) -> SpectralDensity:
    r"""Stochastic Lanczos quadrature (Ubaru et al. 2017; Ghorbani et al. 2019; Yao et al. 2020).

    For each of ``runs`` Rademacher start vectors :math:`v_l` (normalised), ``steps`` Lanczos
    iterations give :math:`T = S\,\mathrm{diag}(\theta)S^T`; then
    :math:`v_l^Tg(H)v_l \approx \sum_j \tau_j g(\theta_j)` with :math:`\tau_j = S_{1j}^2`, a Gauss
    quadrature exact for polynomials :math:`g` of degree below :math:`2\cdot` ``steps``. The runs
    share one batched Hessian product per step.
    """
    operator = HessianOperator(model, X, y, loss_fn, batch_size)
    check_int("steps", steps, minimum=1)
    check_int("runs", runs, minimum=1)
    check_seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    start = _random_unit(operator.size, runs, generator, "rademacher").to(operator.device)  # (r, P)
    alphas, betas, _ = lanczos(operator.matvec, start, steps)
    nodes, weights = [], []
    for a, b in zip(alphas.cpu(), betas.cpu()):
        theta, S = torch.linalg.eigh(_tridiagonal(a, b))
        nodes.append(theta)
        weights.append(S[0] ** 2)
    return SpectralDensity(torch.stack(nodes), torch.stack(weights), operator.size)
