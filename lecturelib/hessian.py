r"""Curvature of the training loss: Hessian-vector products and what can be built from them.

For a model :math:`m(x;\theta)` with :math:`P` parameters and data :math:`\{(x_i, y_i)\}_{i=1}^N`,
the average loss is :math:`f(\theta) = \frac1N\sum_i f_i(\theta)` with
:math:`f_i(\theta) = L(m(x_i;\theta), y_i)`, and its Hessian is
:math:`H = \nabla^2 f(\theta) \in \mathbb{R}^{P\times P}`. ``H`` is never formed: every routine
here needs only products :math:`Hv`, computed exactly in about the cost of two gradients by
differentiating the gradient along :math:`v` (Pearlmutter 1994; here forward-over-reverse with
``torch.func.jvp`` of ``torch.func.grad``, and ``vmap`` over many vectors at once).

* :func:`top_eigenvalues`: Lanczos (default) or power iteration with deflation (PyHessian,
  Yao et al. 2020), eigenvalues largest in magnitude first.
* :func:`hessian_trace`: Hutchinson's (1990) estimator :math:`\operatorname{tr}H = E[z^THz]`.
* :func:`spectral_density`: stochastic Lanczos quadrature (Ubaru et al. 2017; Ghorbani et al. 2019).
* :func:`keskar_sharpness`: the :math:`\epsilon`-box sharpness of Keskar et al. (2017).
* :func:`per_sample_gradient_norms`: :math:`\|\nabla f_i(\theta)\|_2` for every sample, with
  ``vmap(grad)``: small values everywhere make an "individually flat" minimum (Giselsson's lecture).
* :func:`rescale_layers`: Dinh et al.'s (2017) rescaling of a ReLU network, which keeps the
  function and changes the curvature.

Every routine evaluates the model in evaluation mode, treats ``loss_fn`` as a *mean* over the
batch (PyTorch's default reduction; cross-entropy for integer targets and squared error for
float targets unless given), and runs where the model's parameters are.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from ._checks import (check_callable, check_choice, check_finite_tensor, check_int, check_module, check_positive,
                      check_seed, check_targets, check_tensor)
from .losses import default_loss

__all__ = ["HessianOperator", "hessian_vector_product", "top_eigenvalues", "hessian_trace", "TraceEstimate",
           "spectral_density", "SpectralDensity", "lanczos", "keskar_sharpness", "Sharpness",
           "per_sample_gradients", "per_sample_gradient_norms", "rescale_layers", "flat_parameters",
           "LossSnapshot"]


# ----------------------------------------------------------------------------------- checks

def _check_data(model, X, y, loss_fn):
    """What every entry point checks once: a model with trainable parameters, finite data with one
    target per sample, and (for the default losses) labels or target shapes that fit its outputs."""
    check_module("model", model)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True); there is no Hessian to take")
    check_tensor("X", X, min_ndim=1, nonempty=True)
    check_tensor("y", y)
    if y.dim() == 0 or len(y) != len(X):
        raise ValueError(f"y must have one target per row of X ({len(X)}), got shape {tuple(y.shape)}")
    check_finite_tensor("X", X)
    check_finite_tensor("y", y)
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """The trainable parameters concatenated in ``named_parameters()`` order, detached: ``(P,)``."""
    check_module("model", model)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------------- the operator

class HessianOperator:
    r"""The Hessian :math:`H = \nabla^2_\theta \frac1N\sum_i L(m(x_i;\theta), y_i)` as a linear map.

    ``H @ v`` (or :meth:`matvec`) takes a flat vector ``(P,)`` or a stack ``(k, P)`` and returns
    :math:`Hv` of the same shape, in float64. Products are exact (Pearlmutter 1994): the
    directional derivative of the gradient, :math:`Hv = \frac{d}{dt}\nabla f(\theta + t v)|_{t=0}`,
    With all the data in one chunk (the default), the gradient's graph is built once and each
    product is one backward pass through it (reverse-over-reverse, as in PyHessian), a stack of
    vectors being one batched backward pass. ``batch_size`` splits the data into chunks
    (:math:`H = \sum_b \frac{N_b}{N} H_b`) to bound memory; each chunk's products are then
    recomputed by forward-over-reverse differentiation (``jvp`` of ``grad``, ``vmap`` over vectors).
    """

    def __init__(self, model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn=None,
                 batch_size: int | None = None):
        _check_data(model, X, y, loss_fn)
        if batch_size is not None:
            check_int("batch_size", batch_size, minimum=1)
        self.model = model
        self.loss_fn = loss_fn or default_loss(y)
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shapes = [params[n].shape for n in self.names]
        self.numels = [params[n].numel() for n in self.names]
        self.frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
        self.buffers = dict(model.named_buffers())
        self.theta = flat_parameters(model)  # (P,)
        self.size = self.theta.numel()
        self.dtype, self.device = self.theta.dtype, self.theta.device
        X = X.to(self.device)
        self.X = X.to(self.dtype) if torch.is_floating_point(X) else X
        y = y.to(self.device)
        self.y = y.to(self.dtype) if torch.is_floating_point(y) else y
        self.batch_size = batch_size or len(X)
        if loss_fn is None:  # the targets must fit the outputs, checked on the first sample
            with torch.no_grad(), _eval_mode(model):
                check_targets("y", self.y, model(self.X[:1]))
        self._forward_mode = True
        self._gradient_graph = None  # (leaf, gradient with graph), built on the first product

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat ``(P,)`` vector -> ``{name: tensor}`` shaped like the model's parameters."""
        pieces = torch.split(theta, self.numels)
        out = {n: piece.view(shape) for n, piece, shape in zip(self.names, pieces, self.shapes)}
        out.update(self.frozen)
        return out

    def loss_at(self, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean loss on ``(X, y)`` at the flat parameters ``theta``, as a differentiable scalar."""
        output = functional_call(self.model, (self.unflatten(theta), self.buffers), (X,))
        return self.loss_fn(output, y)

    def loss(self, theta: torch.Tensor | None = None) -> float:
        """Mean loss over all the data at ``theta`` (default: the model's parameters)."""
        theta = self.theta if theta is None else theta.to(self.device, self.dtype)
        total = 0.0
        with torch.no_grad(), _eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                total += float(self.loss_at(theta, xb, yb)) * len(xb)
        return total / len(self.X)

    def gradient(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\nabla f(\theta)` as a flat float64 vector ``(P,)``."""
        theta = self.theta if theta is None else theta.to(self.device, self.dtype)
        total = torch.zeros(self.size, dtype=torch.float64, device=self.device)
        with _eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                total += grad(self.loss_at)(theta, xb, yb).double() * (len(xb) / len(self.X))
        return total

    def matvec(self, vectors: torch.Tensor) -> torch.Tensor:
        """:math:`Hv` for ``vectors`` of shape ``(P,)`` or ``(k, P)``; float64, same shape."""
        if not isinstance(vectors, torch.Tensor):
            raise TypeError(f"vectors must be a torch.Tensor, got {type(vectors).__name__}")
        if vectors.dim() not in (1, 2) or vectors.shape[-1] != self.size:
            raise ValueError(f"vectors must have shape ({self.size},) or (k, {self.size}), got {tuple(vectors.shape)}")
        single = vectors.dim() == 1
        V = vectors.reshape(-1, self.size).to(self.device, self.dtype)  # (k, P)
        if self.batch_size >= len(self.X):  # one chunk: differentiate the stored gradient graph
            result = self._graph_products(V).double()
            return result[0] if single else result
        total = torch.zeros(V.shape, dtype=torch.float64, device=self.device)
        with _eval_mode(self.model):
            for start in range(0, len(self.X), self.batch_size):
                xb, yb = self.X[start:start + self.batch_size], self.y[start:start + self.batch_size]
                gradient = grad(lambda theta: self.loss_at(theta, xb, yb))
                total += self._products(gradient, V).double() * (len(xb) / len(self.X))
        return total[0] if single else total

    __matmul__ = matvec

    def _graph_products(self, V):
        """Reverse-over-reverse with the gradient's graph built once (as PyHessian does): each
        product is one backward pass through :math:`\\nabla f`, batched over the rows of ``V``."""
        if self._gradient_graph is None:
            leaf = self.theta.clone().requires_grad_(True)
            with torch.enable_grad(), _eval_mode(self.model):
                gradient, = torch.autograd.grad(self.loss_at(leaf, self.X, self.y), leaf, create_graph=True)
            self._gradient_graph = (leaf, gradient)
        leaf, gradient = self._gradient_graph
        if not gradient.requires_grad:  # the loss is linear in the parameters: H = 0
            return torch.zeros_like(V)
        if len(V) <= 4 or leaf.device.type != "cuda":
            # On the CPU (and for a few vectors anywhere) one backward pass per vector is faster
            # than a batched one: 2.5x on the 79k-parameter benchmark model.
            return torch.stack([torch.autograd.grad(gradient, leaf, v, retain_graph=True)[0] for v in V])
        return torch.autograd.grad(gradient, leaf, V, retain_graph=True, is_grads_batched=True)[0]

    def _products(self, gradient, V):
        """``vmap`` of one product per row of ``V`` ``(k, P)``: forward-over-reverse (a ``jvp`` of the
        gradient), or reverse-over-reverse (the gradient of :math:`\\nabla f^Tv`) for losses whose
        forward-mode derivative torch lacks (``F.mse_loss`` in torch 2.x raises "ZeroTensors are
        immutable"); both are exact."""
        if self._forward_mode:
            try:
                return vmap(lambda v: jvp(gradient, (self.theta,), (v,))[1])(V)
            except RuntimeError as error:
                if "ZeroTensor" not in str(error):
                    raise
                self._forward_mode = False
        return vmap(lambda v: grad(lambda theta: (gradient(theta) * v).sum())(self.theta))(V)

    def dense(self) -> torch.Tensor:
        """The full ``(P, P)`` Hessian, column by column from products with the unit vectors
        (for small models and tests)."""
        eye = torch.eye(self.size, dtype=torch.float64, device=self.device)
        columns = torch.cat([self.matvec(eye[i:i + 256]) for i in range(0, self.size, 256)])
        return 0.5 * (columns + columns.T)


def hessian_vector_product(model: nn.Module, X: torch.Tensor, y: torch.Tensor, vector: torch.Tensor,
                           loss_fn=None) -> torch.Tensor:
    r"""Pearlmutter's (1994) exact product :math:`Hv` with the Hessian of the mean loss.

    ``vector`` is flat, ``(P,)`` (or ``(k, P)``), in the order of :func:`flat_parameters`.
    Returns a float64 tensor of the same shape. See :class:`HessianOperator`.
    """
    return HessianOperator(model, X, y, loss_fn).matvec(vector)


# ----------------------------------------------------------------------------------- Lanczos

def _random_unit(size, count, generator, distribution="gaussian"):
    if distribution == "rademacher":
        z = torch.randint(0, 2, (count, size), generator=generator, dtype=torch.float64) * 2 - 1
    else:
        z = torch.randn(count, size, generator=generator, dtype=torch.float64)
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
    operator = HessianOperator(model, X, y, loss_fn, batch_size)
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


# ----------------------------------------------------------------------------------- trace

@dataclass(frozen=True)
class TraceEstimate:
    r"""Hutchinson's estimate: ``value`` :math:`= \frac1m\sum_l z_l^THz_l`, its ``standard_error``
    :math:`s/\sqrt m`, and the ``samples`` :math:`z_l^THz_l` ``(m,)``."""

    value: float
    standard_error: float
    samples: torch.Tensor

    def __float__(self) -> float:
        return self.value


def hessian_trace(model: nn.Module, X: torch.Tensor, y: torch.Tensor, probes: int = 100, loss_fn=None,
                  seed: int = 0, distribution: str = "rademacher", chunk: int = 25,
                  batch_size: int | None = None) -> TraceEstimate:
    r"""Hutchinson's (1990) estimator :math:`\operatorname{tr} H \approx \frac1m\sum_{l=1}^m z_l^T H z_l`.

    Probes :math:`z_l` have independent Rademacher (:math:`\pm1`, the minimum-variance choice,
    variance :math:`2\sum_{i\ne j}H_{ij}^2`) or standard Gaussian entries, drawn from a generator
    seeded with ``seed``; ``chunk`` probes share one vectorised product. A diagonal Hessian makes
    the Rademacher estimate exact.
    """
    operator = HessianOperator(model, X, y, loss_fn, batch_size)
    check_int("probes", probes, minimum=1)
    check_int("chunk", chunk, minimum=1)
    check_seed("seed", seed)
    check_choice("distribution", distribution, ("rademacher", "gaussian"))
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for start in range(0, probes, chunk):
        count = min(chunk, probes - start)
        if distribution == "rademacher":
            Z = torch.randint(0, 2, (count, operator.size), generator=generator, dtype=torch.float64) * 2 - 1
        else:
            Z = torch.randn(count, operator.size, generator=generator, dtype=torch.float64)
        samples.append((operator.matvec(Z) * Z.to(operator.device)).sum(dim=1).cpu())  # (count,)
    samples = torch.cat(samples)
    error = float(samples.std() / math.sqrt(probes)) if probes > 1 else float("nan")
    return TraceEstimate(float(samples.mean()), error, samples)


# ----------------------------------------------------------------------------------- density

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


# ----------------------------------------------------------------------------------- sharpness

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


# ----------------------------------------------------------------------------------- per sample

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
    with _eval_mode(model):
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
    _check_data(model, X, y, loss_fn)
    norms = []
    for start in range(0, len(X), chunk):
        rows = per_sample_gradients(model, X[start:start + chunk], y[start:start + chunk], loss_fn, chunk)
        norms.append(rows.double().norm(dim=1).cpu())
    return torch.cat(norms)


# ----------------------------------------------------------------------------------- rescaling

def rescale_layers(model: nn.Module, alpha: float, layer: int = 0) -> nn.Module:
    r"""Dinh et al.'s (2017) reparameterisation of a ReLU network, returned as a new model.

    Multiplies layer ``layer``'s weight and bias by :math:`\alpha > 0` and the next linear layer's
    weight by :math:`1/\alpha`. Because :math:`\mathrm{relu}(\alpha u) = \alpha\,\mathrm{relu}(u)`
    (also for leaky ReLU), the network computes the same function, yet its Hessian changes: the
    block of the first layer is scaled by :math:`1/\alpha^2` and that of the second by :math:`\alpha^2`.
    Works for :class:`lecturelib.models.MLP` without normalisation, and for any model exposing an
    ``nn.ModuleList`` ``layers`` of ``nn.Linear`` with positively homogeneous activations between.
    """
    import copy

    check_module("model", model)
    check_positive("alpha", alpha)
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList) or not all(isinstance(m, nn.Linear) for m in layers):
        raise TypeError("model must have an nn.ModuleList `layers` of nn.Linear (e.g. lecturelib.models.MLP)")
    check_int("layer", layer, minimum=0)
    if layer + 1 >= len(layers):
        raise ValueError(f"layer must be below the last linear layer (< {len(layers) - 1}), got {layer}")
    activation = getattr(model, "activation", "relu")
    if activation not in ("relu", "leaky_relu", "identity") or getattr(model, "norm", None) is not None \
            or any(getattr(model, "residual_mask", [])):
        raise ValueError("rescaling keeps the function only for plain (leaky) ReLU or identity networks "
                         f"without normalisation or residual layers; got activation={activation!r}")
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled.layers[layer].weight.mul_(alpha)
        if scaled.layers[layer].bias is not None:
            scaled.layers[layer].bias.mul_(alpha)
        scaled.layers[layer + 1].weight.div_(alpha)
    return scaled


# ----------------------------------------------------------------------------------- snapshots

class LossSnapshot:
    r"""A ``callback`` for :func:`lecturelib.train.fit` that keeps a copy of the parameters at the first
    evaluation where the mean training loss :math:`f(\theta)` on ``(X, y)`` is at most ``target``,
    so that minima reached by different optimisers can be compared *at the same training loss*.

    With ``measure_top=True`` it also returns the top Hessian eigenvalue (Lanczos with a residual
    tolerance of 1e-2; the Ritz value's error is of the order of the residual squared) and the loss at every evaluation, which ``fit`` stores in
    ``history.extras["top_eigenvalue"]`` and ``history.extras["loss"]``. After training,
    :meth:`restore` loads the snapshot into the model.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, target: float, loss_fn=None, measure_top: bool = False):
        check_tensor("X", X)
        check_tensor("y", y)
        check_positive("target", target)
        self.X, self.y, self.target, self.loss_fn = X, y, float(target), loss_fn
        self.measure_top = bool(measure_top)
        self.state, self.epoch, self.loss = None, None, None

    def __call__(self, model: nn.Module, epoch: int) -> dict:
        operator = HessianOperator(model, self.X, self.y, self.loss_fn)
        loss = operator.loss()
        if self.state is None and loss <= self.target:
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.epoch, self.loss = epoch, loss
        if not self.measure_top:
            return {"loss": loss}
        top = top_eigenvalues(model, self.X, self.y, loss_fn=self.loss_fn, tol=1e-2)
        return {"loss": loss, "top_eigenvalue": float(top[0])}

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the snapshot into ``model`` (in place) and return it; ``RuntimeError`` if training
        never reached the target loss."""
        if self.state is None:
            raise RuntimeError(f"the training loss never reached target={self.target}; train longer or raise it")
        model.load_state_dict(self.state)
        return model
