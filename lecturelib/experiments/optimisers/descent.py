r"""Gradient descent and its landscape; minibatch noise; momentum and Nesterov (``book/optimisers``).

* :func:`descend_many`: one optimiser from many starts at once on a test function (the starts
  are rows of one parameter, so every element-wise optimiser treats them independently);
  :func:`basin_limits` labels each start with the minimum it reaches.
* :func:`critical_points`: the critical points of a tiny network, found by driving
  :math:`\|\nabla f\|^2` to zero with Levenberg-Marquardt (Gauss-Newton on the residual
  :math:`\nabla f`, whose Jacobian is the Hessian), then classified by their Hessian index
  (the number of negative eigenvalues; Dauphin et al. 2014).
* :func:`per_example_gradients` and :func:`minibatch_gradient_noise`: the spread of the
  minibatch gradient :math:`\mathbb E\|g_B - g\|^2 = \operatorname{tr}\Sigma / B` for minibatches
  drawn with replacement.
* :func:`steps_to_reach`, :func:`tune`: the ravine race between GD, momentum and Nesterov.
* :func:`nesterov_lookahead` and :func:`nesterov_rewritten`: the lecture's two forms of
  Nesterov's update (Sutskever et al. 2013).
* :func:`compare_trajectories`: several named optimisers on one function (the widget's compute).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, hessian, vmap

from ... import optim
from ..._checks import check_callable, check_choice, check_int, check_positive, check_seed, check_tensor, check_type
from ...cache import CachedRun, RunSpec, cached_run
from ...data import DataSplit
from ...models import MLP

__all__ = ["descend_many", "basin_limits", "TinyNetwork", "tiny_network", "CriticalPoints", "critical_points",
           "PLATEAU_KINDS", "plateau_network", "plateau_run", "digits_run", "per_example_gradients",
           "minibatch_gradient_noise", "loglog_slope", "steps_to_reach", "tune",
           "nesterov_lookahead", "nesterov_rewritten", "OPTIMISER_BUILDERS", "make_optimiser",
           "compare_trajectories"]


# ------------------------------------------------------------------ many starts at once

def descend_many(function, make_optimizer, starts, steps: int) -> optim.Trajectory:
    """Run ``make_optimizer([param])`` for ``steps`` steps from every row of ``starts`` (shape ``(n, d)``).

    The loss is :math:`\\sum_i f(x_i)`, so the gradient of row ``i`` is :math:`\\nabla f(x_i)` and an
    element-wise optimiser (all of :mod:`lecturelib.optim`) moves each row as if it were alone; this
    equals ``n`` runs of :func:`lecturelib.optim.trajectory`. Returns a Trajectory with ``points``
    ``(steps + 1, n, d)`` and ``values`` ``(steps + 1, n)`` in float64.
    """
    check_callable("make_optimizer", make_optimizer)
    check_int("steps", steps, minimum=0)
    check_tensor("starts", starts, ndim=2)
    value = function.value if isinstance(function, optim.TestFunction) else check_callable("function", function)
    if isinstance(function, optim.TestFunction) and starts.shape[1] != function.dim:
        raise ValueError(f"starts must have shape (n, {function.dim}) for {function.name}, got {tuple(starts.shape)}")
    param = starts.detach().to(torch.float64).clone().requires_grad_(True)
    optimizer = make_optimizer([param])
    points = torch.empty(steps + 1, *param.shape, dtype=torch.float64)
    values = torch.empty(steps + 1, param.shape[0], dtype=torch.float64)
    for step in range(steps + 1):
        optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = value(param)
        points[step], values[step] = param.detach(), loss.detach()
        if step < steps:
            loss.sum().backward()
            optimizer.step()
    return optim.Trajectory(points, values)


def basin_limits(function: optim.TestFunction, starts, lr: float = 0.01, steps: int = 2000, tol: float = 1e-6):
    """Gradient descent with step ``lr`` from every start; returns ``(finals (n, d), limits (n,))``, where
    ``limits[i]`` is the index in ``function.minima`` of the minimum start ``i`` ends within ``tol`` of
    (-1: none)."""
    check_type("function", function, optim.TestFunction, "a lecturelib.optim.TestFunction")
    check_positive("tol", tol)
    run = descend_many(function, functools.partial(optim.SGD, lr=check_positive("lr", lr)), starts, steps)
    finals = run.points[-1]
    minima = torch.tensor(function.minima, dtype=torch.float64)
    distance = torch.cdist(finals, minima)
    nearest = distance.argmin(dim=1)
    limits = torch.where(distance.min(dim=1).values < tol, nearest, torch.full_like(nearest, -1))
    return finals, limits


# ------------------------------------------------------------------ critical points of a tiny network

@dataclass(frozen=True)
class TinyNetwork:
    r"""The regression loss of :math:`m(x) = \sum_{j=1}^{H} a_j \tanh(w_j x + b_j) + c` on ``(X, y)``, as a
    function of the flat parameter :math:`\theta = (w, b, a, c)` (``3H + 1`` numbers), in float64."""

    X: torch.Tensor
    y: torch.Tensor
    hidden: int

    @property
    def n_params(self) -> int:
        return 3 * self.hidden + 1

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """Mean squared error at ``theta`` (shape ``(3H + 1,)``); differentiable, usable under ``vmap``."""
        h = self.hidden
        w, b, a, c = theta[:h], theta[h:2 * h], theta[2 * h:3 * h], theta[3 * h]
        return ((torch.tanh(self.X[:, None] * w + b) @ a + c - self.y) ** 2).mean()


def tiny_network(n_points: int = 12, noise: float = 0.05, seed: int = 1) -> TinyNetwork:
    """A 1-2-1 tanh network (7 parameters) fitting ``n_points`` noisy samples on [-2, 2] of a teacher of the
    same shape (weights (2, -1.5), biases (1, 0.5), output weights (1, 1.2), output bias -0.2)."""
    check_int("n_points", n_points, minimum=8)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    X = torch.linspace(-2.0, 2.0, n_points, dtype=torch.float64)
    weights, biases, outputs = (torch.tensor(pair, dtype=torch.float64)
                                for pair in ((2.0, -1.5), (1.0, 0.5), (1.0, 1.2)))
    teacher = torch.tanh(X[:, None] * weights + biases) @ outputs
    y = teacher - 0.2 + noise * torch.randn(n_points, generator=generator, dtype=torch.float64)
    return TinyNetwork(X, y, hidden=2)


@dataclass(frozen=True)
class CriticalPoints:
    """The converged searches: ``points`` ``(k, P)``, ``loss`` ``(k,)``, Hessian ``eigenvalues`` ``(k, P)``
    (ascending), ``index`` ``(k,)`` (eigenvalues below ``-tol``), ``kind`` (``"minimum"``: all above
    ``tol``; ``"saddle"``: some below ``-tol``; ``"degenerate"``: otherwise), and ``starts``, the
    number of searches."""

    points: torch.Tensor
    loss: torch.Tensor
    eigenvalues: torch.Tensor
    index: torch.Tensor
    kind: list
    starts: int

    def count(self, kind: str) -> int:
        return sum(k == kind for k in self.kind)

    def levels(self, kind: str, decimals: int = 5) -> list:
        """The distinct loss values (rounded to ``decimals``) of the critical points of ``kind``."""
        return sorted({round(float(v), decimals) for v, k in zip(self.loss, self.kind) if k == kind})


def critical_points(loss, n_params: int, n_starts: int = 200, scale: float = 1.0, iterations: int = 100,
                    seed: int = 0, grad_tol: float = 1e-9, eig_tol: float = 1e-6) -> CriticalPoints:
    r"""Solve :math:`\nabla f(\theta) = 0` from ``n_starts`` Gaussian starts (std ``scale``).

    Levenberg-Marquardt on the residual :math:`r = \nabla f` with Jacobian :math:`H`:
    :math:`\delta = -(H^2 + \mu I)^{-1} H \nabla f`, accepted when it lowers :math:`\|\nabla f\|^2`
    (then :math:`\mu \leftarrow 0.3\mu`, else :math:`\mu \leftarrow 10\mu`). Unlike gradient descent on
    :math:`f` it is attracted to critical points of every index alike. Searches that end with
    :math:`\|\nabla f\| <` ``grad_tol`` are kept and classified by their Hessian's eigenvalues.
    """
    check_callable("loss", loss)
    check_int("n_params", n_params, minimum=1)
    check_int("n_starts", n_starts, minimum=1)
    check_int("iterations", iterations, minimum=1)
    check_positive("scale", scale), check_positive("grad_tol", grad_tol), check_positive("eig_tol", eig_tol)
    gradient, curvature = vmap(grad(loss)), vmap(hessian(loss))

    def squared(thetas):
        return (gradient(thetas) ** 2).sum(dim=1)

    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    theta = scale * torch.randn(n_starts, n_params, generator=generator, dtype=torch.float64)
    mu = torch.full((n_starts,), 1e-2, dtype=torch.float64)
    current = squared(theta)
    eye = torch.eye(n_params, dtype=torch.float64)
    for _ in range(iterations):
        g, h = gradient(theta), curvature(theta)
        step = -torch.linalg.solve(h @ h + mu[:, None, None] * eye, (h @ g[:, :, None]))[:, :, 0]
        proposal = theta + step
        new = squared(proposal)
        accept = new < current
        theta = torch.where(accept[:, None], proposal, theta)
        current = torch.where(accept, new, current)
        mu = torch.where(accept, 0.3 * mu, 10.0 * mu).clamp(1e-12, 1e8)
    kept = theta[current.sqrt() < grad_tol]
    eigenvalues = torch.linalg.eigvalsh(curvature(kept)) if len(kept) else torch.empty(0, n_params)
    index = (eigenvalues < -eig_tol).sum(dim=1)
    kind = ["saddle" if i > 0 else "minimum" if bool((e > eig_tol).all()) else "degenerate"
            for i, e in zip(index.tolist(), eigenvalues)]
    values = vmap(loss)(kept) if len(kept) else torch.empty(0)
    return CriticalPoints(kept, values, eigenvalues, index, kind, n_starts)


# ------------------------------------------------------------------ plateaux of saturated and dead units

PLATEAU_KINDS = ("healthy", "saturated", "dead")


def plateau_network(kind: str, width: int = 8) -> MLP:
    """A 1-``width``-1 network: ``"healthy"`` (tanh, PyTorch's default initialisation), ``"saturated"``
    (the same with first-layer weights and biases times 30, so most units sit on tanh's flat tails) or
    ``"dead"`` (ReLU with first-layer biases -10, so no unit is ever active on inputs in [-1.5, 1.5])."""
    check_choice("kind", kind, PLATEAU_KINDS)
    model = MLP([1, check_int("width", width, minimum=1), 1], "relu" if kind == "dead" else "tanh")
    with torch.no_grad():
        first = model.layers[0]
        if kind == "saturated":
            first.weight.mul_(30.0), first.bias.mul_(30.0)
        if kind == "dead":
            first.weight.clamp_(-1.0, 1.0), first.bias.fill_(-10.0)
    return model


def plateau_run(split: DataSplit, kind: str, epochs: int = 2000, lr: float = 0.1, seed: int = 0):
    """Full-batch gradient descent on ``split`` from :func:`plateau_network` (``kind``), evaluated every 20
    steps; returns ``(the untrained network, the CachedRun)``."""
    spec = RunSpec(f"optimisers-plateau-{check_choice('kind', kind, PLATEAU_KINDS)}", split,
                   functools.partial(plateau_network, kind), optimizer=functools.partial(optim.SGD, lr=lr), lr=lr,
                   epochs=epochs, batch_size=None, seed=seed, eval_every=20)
    return spec.build(), cached_run(spec)


def digits_run(split: DataSplit, batch_size: int | None, epochs: int = 1, lr: float = 0.1, seed: int = 0,
               max_steps: int | None = None, width: int = 32) -> CachedRun:
    """A 64-``width``-10 ReLU MLP trained on ``split`` by SGD with minibatches of ``batch_size`` (``None``:
    full batch), evaluated every epoch, at most ``max_steps`` updates."""
    spec = RunSpec("optimisers-digits-batch", split, functools.partial(MLP, [64, width, 10], "relu"),
                   optimizer=functools.partial(optim.SGD, lr=lr), lr=lr, epochs=epochs, batch_size=batch_size,
                   seed=seed, max_steps=max_steps)
    return cached_run(spec)


# ------------------------------------------------------------------ minibatch gradient noise

def per_example_gradients(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn) -> torch.Tensor:
    """The gradient of ``loss_fn(model(x_i), y_i)`` for every example, flattened: shape ``(N, P)``
    (``torch.func`` over a functional call of ``model``)."""
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach() for _, p in model.named_parameters())

    def one(params, x, target):
        output = torch.func.functional_call(model, dict(zip(names, params)), (x[None],))
        return loss_fn(output, target[None])

    grads = vmap(grad(one), in_dims=(None, 0, 0))(values, X, y)
    return torch.cat([g.reshape(len(X), -1) for g in grads], dim=1)


def minibatch_gradient_noise(per_example: torch.Tensor, batch_sizes, draws: int = 200, seed: int = 0) -> dict:
    r"""For each ``B``: the mean over ``draws`` minibatches, drawn uniformly *with replacement*, of
    :math:`\|g_B - g\|^2` (``"measured"``), and its exact value :math:`\operatorname{tr}\Sigma / B`
    (``"exact"``), :math:`\Sigma` the per-example gradients' covariance (divided by ``N``).
    Returns ``{"batch_size": [...], "measured": [...], "exact": [...]}``."""
    check_tensor("per_example", per_example, ndim=2)
    check_int("draws", draws, minimum=2)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    full = per_example.mean(dim=0)
    trace = float(((per_example - full) ** 2).sum(dim=1).mean())
    out = {"batch_size": [], "measured": [], "exact": []}
    for batch_size in batch_sizes:
        check_int("batch size", batch_size, minimum=1)
        rows = torch.randint(len(per_example), (draws, batch_size), generator=generator)
        deviation = per_example[rows].mean(dim=1) - full
        out["batch_size"].append(int(batch_size))
        out["measured"].append(float((deviation ** 2).sum(dim=1).mean()))
        out["exact"].append(trace / batch_size)
    return out


def loglog_slope(x, y) -> float:
    """The least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


# ------------------------------------------------------------------ the ravine race

def steps_to_reach(values: torch.Tensor, target: float) -> torch.Tensor:
    """For each column of ``values`` ``(T, n)``, the first step with value <= ``target`` (``T``: never)."""
    reached = values <= target
    first = torch.where(reached.any(dim=0), reached.float().argmax(dim=0), torch.full((values.shape[1],),
                                                                                       values.shape[0]))
    return first


def tune(function, builder, grid: dict, starts, steps: int, target: float = 1e-6):
    """The grid point (name -> value) of ``builder(**point) -> make_optimizer`` that reaches ``target`` in the
    fewest steps from the worst of ``starts``; returns ``(best point, steps per start)``."""
    best, best_steps = None, None
    for combination in itertools.product(*grid.values()):
        point = dict(zip(grid, combination))
        with np.errstate(all="ignore"):
            run = descend_many(function, builder(**point), starts, steps)
        needed = steps_to_reach(torch.nan_to_num(run.values, nan=float("inf")), target)
        if best_steps is None or int(needed.max()) < int(best_steps.max()):
            best, best_steps = point, needed
    return best, best_steps


# ------------------------------------------------------------------ Nesterov, both forms

def nesterov_lookahead(grad_fn, x, lr: float, momentum: float, steps: int):
    r"""The look-ahead form: :math:`v_{t+1} = \rho v_t - \alpha \nabla f(x_t + \rho v_t)`,
    :math:`x_{t+1} = x_t + v_{t+1}`, from :math:`v_0 = 0`. Returns ``(xs, vs)``, each ``(steps + 1, d)``."""
    xs, vs = [x.clone()], [torch.zeros_like(x)]
    for _ in range(steps):
        v = momentum * vs[-1] - lr * grad_fn(xs[-1] + momentum * vs[-1])
        xs.append(xs[-1] + v)
        vs.append(v)
    return torch.stack(xs), torch.stack(vs)


def nesterov_rewritten(grad_fn, x_tilde, lr: float, momentum: float, steps: int):
    r"""The rewritten form in :math:`\tilde x_t = x_t + \rho v_t`: :math:`v_{t+1} = \rho v_t - \alpha \nabla
    f(\tilde x_t)`, :math:`\tilde x_{t+1} = \tilde x_t - \rho v_t + (1 + \rho) v_{t+1}` (the lecture's code).
    Returns ``(x_tildes, vs)``, each ``(steps + 1, d)``."""
    xs, vs = [x_tilde.clone()], [torch.zeros_like(x_tilde)]
    for _ in range(steps):
        old_v = vs[-1]
        v = momentum * old_v - lr * grad_fn(xs[-1])
        xs.append(xs[-1] - momentum * old_v + (1 + momentum) * v)
        vs.append(v)
    return torch.stack(xs), torch.stack(vs)


# ------------------------------------------------------------------ the widget's compute

def _sgd(lr, momentum, betas, nesterov=False, use_momentum=True):
    return functools.partial(optim.SGD, lr=lr, momentum=momentum if use_momentum else 0.0, nesterov=nesterov)


def _adagrad(lr, momentum, betas):
    return functools.partial(optim.AdaGrad, lr=lr)


def _rmsprop(lr, momentum, betas):
    return functools.partial(optim.RMSProp, lr=lr, alpha=betas[1])


def _adam(lr, momentum, betas):
    return functools.partial(optim.Adam, lr=lr, betas=betas)


#: name -> builder(lr, momentum, betas) -> make_optimizer, the optimisers the explorer offers
OPTIMISER_BUILDERS = {
    "GD": functools.partial(_sgd, use_momentum=False), "momentum": _sgd,
    "Nesterov": functools.partial(_sgd, nesterov=True), "AdaGrad": _adagrad, "RMSProp": _rmsprop, "Adam": _adam,
}


def make_optimiser(name: str, lr: float, momentum: float = 0.9, betas=(0.9, 0.999)):
    """``make_optimizer`` for one of :data:`OPTIMISER_BUILDERS` (RMSProp takes ``betas[1]`` as its ``alpha``)."""
    if name not in OPTIMISER_BUILDERS:
        raise ValueError(f"unknown optimiser {name!r}; use one of {', '.join(OPTIMISER_BUILDERS)}")
    return OPTIMISER_BUILDERS[name](check_positive("lr", lr), momentum, tuple(betas))


def compare_trajectories(function: optim.TestFunction, names, lr: float = 0.05, momentum: float = 0.9,
                         betas=(0.9, 0.999), start=None, steps: int = 100) -> dict:
    """name -> :func:`lecturelib.optim.trajectory` of each optimiser in ``names`` on ``function`` from
    ``start`` (default: the left part of the domain, three quarters up), all with the same ``lr``."""
    check_type("function", function, optim.TestFunction, "a lecturelib.optim.TestFunction")
    if start is None:
        start = tuple(low + (0.1 if i == 0 else 0.75) * (high - low) for i, (low, high) in enumerate(function.domain))
    return {name: optim.trajectory(function, make_optimiser(name, lr, momentum, betas), start, steps)
            for name in names}
