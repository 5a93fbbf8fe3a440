r"""The runs of the regularisation chapter on penalties, augmentation, input noise and early stopping
(``book/regularisation/penalties.ipynb``, ``book/regularisation/augmentation_and_early_stopping.ipynb``).

- :func:`l2_against_decay`: the L2 penalty :math:`\tfrac\lambda2\|\theta\|^2` in the loss against the
  lecture's decayed update :math:`\theta \leftarrow (1-\lambda\eta)\theta - \eta\nabla L`, step by step;
- :func:`penalty_run`: a digits network trained by SGD with an L2 penalty, or an L1 penalty taken by the
  proximal step or by the lecture's sign-subgradient step (:class:`L1SGD`), cached; :func:`weight_counts`;
- :func:`l1_scalar_paths`: both L1 updates on the 1-D problem :math:`\tfrac12(w-a)^2 + \lambda|w|`;
- :func:`augmentation_run`: a small digits subset with and without shifted and rotated copies, cached;
- :func:`linear_problem`, :func:`ridge_solution`, :func:`noise_run`, :func:`l2_regression_run`,
  :func:`noise_excess`, :func:`input_gradient_penalty`: Gaussian input noise against an L2 penalty
  (:class:`GaussianInputNoise`), for a linear model and a tanh network (Bishop 1995);
- :class:`BestValidation`, :func:`early_stopping_run`: keep the parameters of the best validation loss
  and restore them after training;
- :func:`gd_filter`, :func:`ridge_filter`, :func:`gd_on_quadratic`: early stopping as a spectral filter.
"""

from __future__ import annotations

import copy
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import regularization
from ..._checks import check_choice, check_int, check_nonnegative, check_positive, check_seed, check_type
from ...cache import CachedRun, RunSpec, cached_run
from ...data import DataSplit, augmentation
from ...device import seed_everything
from ...models import MLP
from ...params import vector
from ...train import evaluate

__all__ = ["WIDTHS", "l2_against_decay", "L1SGD", "PENALTIES", "penalty_run", "weight_counts", "l1_scalar_paths",
           "augmentation_run", "GaussianInputNoise", "linear_problem", "ridge_solution", "noise_run",
           "l2_regression_run", "noise_excess", "input_gradient_penalty", "BestValidation", "early_stopping_run", "gd_filter", "ridge_filter",
           "gd_on_quadratic"]

WIDTHS = [64, 64, 10]
PENALTIES = ("l2", "l1-proximal", "l1-subgradient")


def _net(split: DataSplit, hidden: int = 64, activation: str = "relu"):
    return functools.partial(MLP, [split.n_features, hidden, split.n_classes], activation)


# ------------------------------------------------------------------ L2

def l2_against_decay(split: DataSplit, lam: float = 0.1, lr: float = 0.1, steps: int = 30, seed: int = 0) -> float:
    r"""Full-batch float64 SGD on a 64-64-10 ReLU net from one initialisation, twice: with
    :math:`\tfrac\lambda2\|\theta\|^2` added to the loss (autograd differentiates it) and with the
    lecture's update :math:`\theta \leftarrow (1-\lambda\eta)\theta - \eta\nabla L(\theta)`.
    Returns the largest difference of the two parameter vectors over all steps, relative to how far
    the first run moved."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    lam, lr = check_nonnegative("lam", lam), check_positive("lr", lr)
    steps = check_int("steps", steps, minimum=1)
    seed_everything(check_seed("seed", seed))
    first = _net(split)().double()
    second = copy.deepcopy(first)
    X, y = split.X_train.double(), split.y_train
    start, gap, moved = vector(first).clone(), 0.0, 0.0
    for _ in range(steps):
        penalised = F.cross_entropy(first(X), y) + lam / 2 * sum((p * p).sum() for p in first.parameters())
        grads = torch.autograd.grad(penalised, list(first.parameters()))
        data_grads = torch.autograd.grad(F.cross_entropy(second(X), y), list(second.parameters()))
        with torch.no_grad():
            for p, g in zip(first.parameters(), grads):
                p -= lr * g
            for p, g in zip(second.parameters(), data_grads):
                p.mul_(1 - lam * lr).sub_(lr * g)
        gap = max(gap, float((vector(first) - vector(second)).abs().max()))
        moved = max(moved, float((vector(first) - start).abs().max()))
    return gap / moved


# ------------------------------------------------------------------ L1

class L1SGD(torch.optim.Optimizer):
    r"""SGD on :math:`L(\theta) + \lambda\sum\|W\|_1`, the penalty on the weight matrices (tensors of two
    or more dimensions; biases are not penalised), by one of two updates:

    * ``mode="proximal"``: :math:`W \leftarrow \operatorname{prox}_{\eta\lambda\|\cdot\|_1}(W - \eta\nabla L)`,
      soft-thresholding (:func:`lecturelib.regularization.l1_proximal_step`; Beck & Teboulle 2009);
    * ``mode="subgradient"``: the lecture's :math:`W \leftarrow W - \eta(\nabla L + \lambda\operatorname{sign} W)`
      (:func:`lecturelib.regularization.l1_subgradient_step`).
    """

    MODES = ("proximal", "subgradient")

    def __init__(self, params, lr: float = 0.1, lam: float = 0.0, mode: str = "proximal"):
        super().__init__(params, {"lr": check_positive("lr", lr), "lam": check_nonnegative("lam", lam),
                                  "mode": check_choice("mode", mode, self.MODES)})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, lam, mode = group["lr"], group["lam"], group["mode"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.dim() < 2 or lam == 0:
                    p.add_(p.grad, alpha=-lr)  # as torch.optim.SGD rounds it
                elif mode == "proximal":
                    p.copy_(regularization.l1_proximal_step(p - lr * p.grad, lr * lam))
                else:
                    p.copy_(regularization.l1_subgradient_step(p, p.grad, lr, lam))


def penalty_run(split: DataSplit, penalty: str, lam: float, seed: int = 0, epochs: int = 20, lr: float = 0.1,
                batch_size: int = 32) -> CachedRun:
    r"""A 64-64-10 ReLU net (:data:`WIDTHS`) trained on ``split`` by minibatch SGD at rate ``lr`` with the
    ``penalty`` (one of :data:`PENALTIES`) of strength ``lam``: ``"l2"`` is ``weight_decay=lam`` (the
    gradient of :math:`\tfrac\lambda2\|\theta\|^2`, every parameter); ``"l1-..."`` is :class:`L1SGD`
    (weight matrices only). Cached."""
    check_choice("penalty", penalty, PENALTIES)
    lam, lr = check_nonnegative("lam", lam), check_positive("lr", lr)
    if penalty == "l2":
        optimizer, decay = "sgd", lam
    else:
        optimizer, decay = functools.partial(L1SGD, lr=lr, lam=lam, mode=penalty.split("-")[1]), 0.0
    return cached_run(RunSpec(
        f"regularisation-{penalty}", split, _net(split), optimizer=optimizer, lr=lr, weight_decay=decay,
        epochs=check_int("epochs", epochs, minimum=1), batch_size=batch_size, seed=check_seed("seed", seed),
        eval_every=epochs, device="cpu"))


def weight_counts(model: nn.Module, band: float = 0.0) -> dict[str, int]:
    """Over the weight matrices of ``model`` (parameters of two or more dimensions): how many there are
    (``total``), how many are exactly zero (``zero``) and how many lie within ``band`` of zero (``near``)."""
    band = check_nonnegative("band", band)
    weights = torch.cat([p.detach().flatten() for p in model.parameters() if p.dim() >= 2])
    return {"total": weights.numel(), "zero": int((weights == 0).sum()), "near": int((weights.abs() <= band).sum())}


def l1_scalar_paths(a: float = 0.05, lam: float = 0.1, lr: float = 0.3, steps: int = 30) -> dict[str, torch.Tensor]:
    r"""Both L1 updates on :math:`f(w) = \tfrac12(w - a)^2 + \lambda|w|` from :math:`w_0 = 1`, float64.
    With :math:`|a| \le \lambda` the minimiser is :math:`w^\star = 0`: the proximal iterates reach it exactly,
    the subgradient iterates end up jumping around it by about :math:`\eta\lambda`. Returns
    ``{"proximal", "subgradient"}``, each of ``steps + 1`` iterates."""
    w_prox = w_sub = torch.tensor([1.0], dtype=torch.float64)
    paths = {"proximal": [w_prox], "subgradient": [w_sub]}
    for _ in range(check_int("steps", steps, minimum=1)):
        w_prox = regularization.l1_proximal_step(w_prox - lr * (w_prox - a), lr * lam)
        w_sub = regularization.l1_subgradient_step(w_sub, w_sub - a, lr, lam)
        paths["proximal"].append(w_prox)
        paths["subgradient"].append(w_sub)
    return {name: torch.cat(path) for name, path in paths.items()}


# ------------------------------------------------------------------ augmentation

def augmentation_run(split: DataSplit, augmented: bool, seed: int = 0, n_train: int = 50, copies: int = 15,
                     max_shift: int = 0, max_degrees: float = 20.0, hidden: int = 256, epochs: int = 50,
                     lr: float = 0.1) -> CachedRun:
    """A 64-``hidden``-10 ReLU net trained on the first ``n_train`` training images of ``split``: alone
    (``augmented=False``), or with ``copies`` rotated (up to ``max_degrees``) and shifted (up to
    ``max_shift`` pixels) copies of each (:func:`lecturelib.data.augmentation.augment`, seeded with
    ``seed``). The augmented run takes ``epochs`` epochs of minibatches of 32; the plain run takes the
    same number of SGD steps (about ``copies + 1`` times more epochs, cut by ``max_steps``). Cached."""
    check_type("augmented", augmented, bool, "True or False")
    copies, epochs = check_int("copies", copies, minimum=1), check_int("epochs", epochs, minimum=1)
    small = split.subset(n_train=check_int("n_train", n_train, minimum=1))
    steps = epochs * math.ceil((copies + 1) * len(small.X_train) / 32)
    if augmented:
        small = augmentation.augment(small, max_shift=max_shift, max_degrees=max_degrees, copies=copies,
                                     include_original=True, seed=check_seed("seed", seed))
    else:
        epochs = math.ceil(steps / math.ceil(len(small.X_train) / 32))
    return cached_run(RunSpec(
        f"regularisation-augment-{'on' if augmented else 'off'}", small,
        _net(small, check_int("hidden", hidden, minimum=1)), lr=check_positive("lr", lr), epochs=epochs,
        batch_size=32, seed=seed, eval_every=epochs, max_steps=steps, device="cpu"))


# ------------------------------------------------------------------ input noise

class GaussianInputNoise(nn.Module):
    r"""Adds :math:`\sigma\,\varepsilon`, :math:`\varepsilon \sim N(0, I)`, to its input in training mode
    (a fresh draw at every call, from its own generator seeded with ``seed``); the identity in evaluation."""

    def __init__(self, sigma: float, seed: int = 0):
        super().__init__()
        self.sigma = check_nonnegative("sigma", sigma)
        self.generator = torch.Generator().manual_seed(check_seed("seed", seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0:
            return x
        noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype)
        return x + self.sigma * noise.to(x.device)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


def linear_problem(n_train: int = 200, n_test: int = 200, dim: int = 5, noise: float = 0.3, seed: int = 0) -> DataSplit:
    r"""Regression data :math:`y = x^\top\beta + 0.5 + \text{noise}\cdot\varepsilon` with
    :math:`x \sim N(0, I_{\text{dim}})`, :math:`\beta = (1, -2, 0.5, 0, \dots)` cut or padded to ``dim``."""
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    beta = torch.zeros(check_int("dim", dim, minimum=1))
    beta[:3] = torch.tensor([1.0, -2.0, 0.5])[:dim]
    X = torch.randn(n_train + n_test, dim, generator=generator)
    y = X @ beta + 0.5 + check_nonnegative("noise", noise) * torch.randn(n_train + n_test, generator=generator)
    y = y.reshape(-1, 1)
    return DataSplit(X[:n_train], y[:n_train], X[n_train:], y[n_train:], f"linear regression ({dim} inputs)")


def ridge_solution(split: DataSplit, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The float64 minimiser ``(w, b)`` of :math:`\frac1N\|Xw + b - y\|^2 + \lambda\|w\|^2` (the bias not
    penalised): :math:`w = (\tfrac1N X_c^\top X_c + \lambda I)^{-1}\tfrac1N X_c^\top y_c` on centred data,
    :math:`b = \bar y - \bar x^\top w`. With :math:`\lambda = \sigma^2` it is also the minimiser of the
    expected loss under input noise :math:`x + \sigma\varepsilon`."""
    lam = check_nonnegative("lam", lam)
    X, y = split.X_train.double(), split.y_train.double().reshape(-1)
    x_bar, y_bar = X.mean(0), y.mean()
    Xc, yc = X - x_bar, y - y_bar
    n = len(X)
    w = torch.linalg.solve(Xc.T @ Xc / n + lam * torch.eye(X.shape[1], dtype=X.dtype), Xc.T @ yc / n)
    return w, y_bar - x_bar @ w


def _regression_net(n_in: int, hidden: int | None, sigma: float, seed: int) -> nn.Module:
    """``GaussianInputNoise(sigma)`` followed by a linear model (``hidden=None``) or a one-hidden-layer tanh net."""
    body = [nn.Linear(n_in, 1)] if hidden is None else [nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, 1)]
    return nn.Sequential(GaussianInputNoise(sigma, seed), *body)


def _weights_decayed_sgd(params, lr: float, decay: float):
    """SGD whose weight decay falls on the weight matrices only: the gradient of ``decay/2 * sum ||W||^2``."""
    params = list(params)
    return torch.optim.SGD([{"params": [p for p in params if p.dim() >= 2], "weight_decay": decay},
                            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)


def _decay_schedule(step: int, half_life: int) -> float:
    """The rate factor ``1 / (1 + step / half_life)``."""
    return 1.0 / (1.0 + step / half_life)


def _regression_run(name, split, hidden, sigma, lam, seed, steps, lr):
    ema = regularization.EMAHook(decay=0.995)
    return cached_run(RunSpec(
        name, split, functools.partial(_regression_net, split.n_features, hidden, sigma, seed),
        optimizer=functools.partial(_weights_decayed_sgd, lr=lr, decay=2 * lam), lr=lr,
        schedule=functools.partial(_decay_schedule, half_life=max(1, steps // 10)), epochs=steps,
        batch_size=None, seed=seed, eval_every=steps, on_step=ema, finish=ema.finish, device="cpu"))


def noise_run(split: DataSplit, sigma: float, hidden: int | None = None, seed: int = 0, steps: int = 3000,
              lr: float = 0.05) -> CachedRun:
    r"""A linear model (``hidden=None``) or a tanh net with ``hidden`` units trained by full-batch SGD on
    the mean squared error with fresh Gaussian noise of standard deviation ``sigma`` on the inputs at every
    step (:class:`GaussianInputNoise`); rate ``lr / (1 + 10 t / steps)``; the stored model is the
    exponential moving average (decay 0.995) of the iterates, which averages out the noise. Cached."""
    return _regression_run("regularisation-input-noise", split, hidden, check_nonnegative("sigma", sigma), 0.0,
                           check_seed("seed", seed), check_int("steps", steps, minimum=1), check_positive("lr", lr))


def l2_regression_run(split: DataSplit, lam: float, hidden: int | None = None, seed: int = 0, steps: int = 3000,
                      lr: float = 0.05) -> CachedRun:
    r""":func:`noise_run` without noise and with the penalty :math:`\lambda\sum\|W\|^2` on the weight
    matrices instead (same initialisation, schedule and averaging). Cached."""
    return _regression_run("regularisation-l2-regression", split, hidden, 0.0, check_nonnegative("lam", lam),
                           check_seed("seed", seed), check_int("steps", steps, minimum=1), check_positive("lr", lr))


def noise_excess(model: nn.Module, split: DataSplit, sigma: float, nodes: int = 60) -> float:
    r"""The exact (Gauss-Hermite, ``nodes`` points, float64) excess of the expected training loss under
    input noise over the clean loss, :math:`\mathbb E_\varepsilon\frac1N\sum_i (f(x_i + \sigma\varepsilon) - y_i)^2
    - \frac1N\sum_i (f(x_i) - y_i)^2`, for a model of one input (evaluated on a float64 copy, noise off).
    For a linear model it is :math:`\sigma^2 w^2`; to first order in :math:`\sigma^2`, in general,
    :math:`\sigma^2\frac1N\sum_i f'(x_i)^2` (Bishop 1995)."""
    if split.n_features != 1:
        raise ValueError(f"noise_excess integrates over one input; split has {split.n_features}")
    sigma, nodes = check_nonnegative("sigma", sigma), check_int("nodes", nodes, minimum=2)
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / weights.sum()
    net = copy.deepcopy(model).double().eval()
    X, y = split.X_train.double(), split.y_train.double()
    with torch.no_grad():
        clean = float(((net(X) - y) ** 2).mean())
        noisy = sum(float(w) * float(((net(X + sigma * float(z)) - y) ** 2).mean()) for z, w in zip(points, weights))
    return noisy - clean


def input_gradient_penalty(model: nn.Module, split: DataSplit, sigma: float) -> float:
    r""":math:`\sigma^2\frac1N\sum_i\|\nabla_x f(x_i)\|^2` on the training inputs (float64, noise off):
    the first-order noise penalty, a Tikhonov regulariser on the input gradient (Bishop 1995)."""
    net = copy.deepcopy(model).double().eval()
    X = split.X_train.double().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(X).sum(), X)
    return check_nonnegative("sigma", sigma) ** 2 * float((grad ** 2).sum(1).mean())


# ------------------------------------------------------------------ early stopping

class BestValidation:
    """A ``callback`` for :func:`lecturelib.train.fit` that evaluates the model on a validation set
    ``(X_val, y_val)`` at every evaluation, returns ``{"val_loss", "val_accuracy"}`` and keeps a copy of
    the parameters with the lowest validation loss (the earliest, on ties). :meth:`finish` is a
    ``RunSpec.finish``: it loads those parameters into the model and records ``best_epoch`` in
    ``history.extras``. Describable, so a :class:`~lecturelib.cache.RunSpec` keys it by its data."""

    def __init__(self, X_val: torch.Tensor, y_val: torch.Tensor):
        self.validation = DataSplit(X_val, y_val, X_val, y_val, "validation")
        self.best_loss, self.best_epoch, self.best_state = math.inf, None, None

    def __call__(self, model: nn.Module, epoch: int) -> dict:
        if epoch == 0:
            self.best_loss, self.best_epoch, self.best_state = math.inf, None, None
        result = evaluate(model, self.validation, "test")
        if result["loss"] < self.best_loss:
            self.best_loss, self.best_epoch = result["loss"], epoch
            self.best_state = copy.deepcopy(model.state_dict())
        return {"val_loss": result["loss"], "val_accuracy": result["accuracy"]}

    def finish(self, model: nn.Module, history) -> None:
        model.load_state_dict(self.best_state)
        history.extras["best_epoch"] = [self.best_epoch]

    def describe(self) -> dict:
        return {"X_val": self.validation.X_train, "y_val": self.validation.y_train}


def early_stopping_run(split: DataSplit, seed: int = 0, n_train: int = 100, n_val: int = 200, hidden: int = 256,
                       epochs: int = 300, lr: float = 0.1) -> CachedRun:
    """A 64-``hidden``-10 ReLU net trained by SGD (minibatches of 20) on the first ``n_train`` training
    images of ``split``, validated after every epoch on the next ``n_val`` (:class:`BestValidation`) and
    restored to its best-validation parameters after the last epoch. ``history`` holds the test loss
    and accuracy of every epoch (the final iterate's at the end); the returned model is the restored
    one. Cached."""
    n_train, n_val = check_int("n_train", n_train, minimum=1), check_int("n_val", n_val, minimum=1)
    if n_train + n_val > len(split.X_train):
        raise ValueError(f"n_train + n_val = {n_train + n_val} exceeds the {len(split.X_train)} training images")
    small = split.subset(n_train=n_train)
    keeper = BestValidation(split.X_train[n_train:n_train + n_val], split.y_train[n_train:n_train + n_val])
    return cached_run(RunSpec(
        "regularisation-early-stopping", small, _net(small, check_int("hidden", hidden, minimum=1)),
        lr=check_positive("lr", lr), epochs=check_int("epochs", epochs, minimum=1), batch_size=20,
        seed=check_seed("seed", seed), callback=keeper, finish=keeper.finish, device="cpu"))


# ------------------------------------------------------------------ early stopping as a filter

def gd_filter(eigenvalues, lr: float, steps) -> torch.Tensor:
    r"""The share :math:`1 - (1 - \eta\lambda_i)^t` of the minimiser that gradient descent from 0 has
    recovered along the eigenvector of eigenvalue :math:`\lambda_i` after :math:`t` steps (float64;
    ``steps`` broadcasts against ``eigenvalues``)."""
    eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64)
    return 1 - (1 - check_positive("lr", lr) * eigenvalues) ** torch.as_tensor(steps, dtype=torch.float64)


def ridge_filter(eigenvalues, alpha) -> torch.Tensor:
    r"""The share :math:`\lambda_i / (\lambda_i + \alpha)` of the minimiser that the ridge penalty
    :math:`\tfrac\alpha2\|w\|^2` keeps along the eigenvector of eigenvalue :math:`\lambda_i` (float64)."""
    eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64)
    return eigenvalues / (eigenvalues + torch.as_tensor(alpha, dtype=torch.float64))


def gd_on_quadratic(H: torch.Tensor, w_star: torch.Tensor, lr: float, steps: int) -> torch.Tensor:
    r"""Gradient descent on :math:`\tfrac12 (w - w^\star)^\top H (w - w^\star)` from :math:`w_0 = 0`,
    float64; returns the ``steps + 1`` iterates as rows."""
    H, w = H.double(), torch.zeros(len(w_star), dtype=torch.float64)
    iterates = [w]
    for _ in range(check_int("steps", steps, minimum=1)):
        w = w - check_positive("lr", lr) * H @ (w - w_star.double())
        iterates.append(w)
    return torch.stack(iterates)
