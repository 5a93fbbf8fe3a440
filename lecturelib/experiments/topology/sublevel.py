r"""Sublevel sets of small models counted on grids (Freeman & Bruna 2016).

A loss :math:`L` of a few parameters is evaluated in float64 on a regular grid (:class:`LossGrid`),
and the components of :math:`\Omega_L(\lambda) = \{\theta : L(\theta) \le \lambda\}` are counted with
face adjacency. The models:

- :func:`double_well_grid`: :math:`L(u, v) = (u^2 - 1)^2 + t u + v^2`, a tilted double well whose two
  minima, saddle and hence :math:`N_\lambda` are known in closed form (:func:`double_well_critical_values`);
- :func:`linear_grid`: a linear network :math:`x \mapsto w_2^\top w_1 x` of hidden width 1 or 2 on scalar
  data, :math:`L = (w_2^\top w_1 - a)^2`;
- :func:`relu_grid`: :math:`m(x) = a\,\mathrm{ReLU}(w x)` on data whose slopes differ on :math:`x < 0` and
  :math:`x > 0` (:func:`relu_data`), whose two valleys have the closed-form floors of
  :func:`relu_valley_values`; :func:`relu_descent` runs gradient descent from many starts at once.

:func:`deep_linear_minima` trains a wider deep linear network from several seeds to its global minimum.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ... import cache, models, topology, train
from ..._checks import check_int, check_positive, check_real, check_seed, check_type
from ...data import DataSplit

__all__ = ["LossGrid", "grid_axes", "double_well_loss", "double_well_grid", "double_well_critical_values",
           "linear_grid", "relu_data", "relu_loss", "relu_grid", "relu_valley_values", "ScaledReLUStarts",
           "per_start_mse", "relu_descent", "sublevel_panels", "deep_linear_data", "deep_linear_minima",
           "least_squares_loss"]


@dataclass(frozen=True)
class LossGrid:
    """A loss sampled on a grid: ``values[i, j, ...] = L(axes[0][i], axes[1][j], ...)`` (float64)."""

    name: str
    values: np.ndarray
    axes: tuple
    names: tuple
    description: str = ""


def grid_axes(bound: float, points: int, dims: int) -> tuple:
    """``dims`` copies of ``numpy.linspace(-bound, bound, points)``."""
    check_positive("bound", bound)
    check_int("points", points, minimum=2)
    check_int("dims", dims, minimum=1)
    return tuple(np.linspace(-bound, bound, points) for _ in range(dims))


def double_well_loss(u, v, tilt: float = 0.3):
    r""":math:`(u^2 - 1)^2 + t\,u + v^2`: for :math:`0 < t < 8/(3\sqrt 3)` two minima, the lower at :math:`u < 0`."""
    return (u ** 2 - 1) ** 2 + tilt * u + v ** 2


def _check_tilt(tilt):
    return check_real("tilt", tilt, minimum=0.0, maximum=8 / (3 * np.sqrt(3)), open_min=True, open_max=True)


def double_well_critical_values(tilt: float = 0.3) -> dict:
    r"""The critical values of :func:`double_well_loss`: the critical points are :math:`v = 0` and the three
    real roots of :math:`4u^3 - 4u + t = 0`; the outer two are the minima, the middle one the saddle."""
    tilt = _check_tilt(tilt)
    roots = np.sort(np.roots([4.0, 0.0, -4.0, tilt]).real)
    left, middle, right = (float(double_well_loss(r, 0.0, tilt)) for r in roots)
    return {"global minimum": left, "spurious minimum": right, "saddle": middle}


def double_well_grid(tilt: float = 0.3, bound: float = 1.8, points: int = 241) -> LossGrid:
    """:func:`double_well_loss` on a ``points x points`` grid of ``[-bound, bound]^2``."""
    tilt = _check_tilt(tilt)
    axes = grid_axes(bound, points, 2)
    u, v = np.meshgrid(*axes, indexing="ij")
    return LossGrid("tilted double well", double_well_loss(u, v, tilt), axes, ("$u$", "$v$"),
                    f"(u^2 - 1)^2 + {tilt:g} u + v^2")


def linear_grid(width: int = 1, target: float = 1.0, bound: float = 2.0, points: int = 201) -> LossGrid:
    r""":math:`L(w_1, w_2) = (w_2^\top w_1 - a)^2` of the linear network :math:`x \mapsto w_2^\top w_1 x` fitted to
    :math:`y = a x` (with :math:`\mathbb E x^2 = 1`), hidden width ``width`` (1 or 2), on a grid of
    :math:`[-b, b]^{2\,\mathrm{width}}`; axes ordered :math:`(w_1, w_2)` for width 1 and
    :math:`(w_{1,1}, w_{1,2}, w_{2,1}, w_{2,2})` for width 2."""
    width = check_int("width", width, minimum=1, maximum=2)
    target = check_real("target", target)
    axes = grid_axes(bound, points, 2 * width)
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    product = grids[0] * grids[1] if width == 1 else grids[0] * grids[2] + grids[1] * grids[3]
    names = ("$w_1$", "$w_2$") if width == 1 else ("$w_{1,1}$", "$w_{1,2}$", "$w_{2,1}$", "$w_{2,2}$")
    return LossGrid(f"linear, width {width}", (product - target) ** 2, axes, names,
                    f"(w2 . w1 - {target:g})^2, hidden width {width}")


def relu_data(n: int = 20, slope_left: float = -1.0, slope_right: float = 2.0) -> DataSplit:
    r"""``n`` (even) points :math:`x` evenly in :math:`[-1, 1]` (none at 0) with :math:`y = s_- x` for :math:`x < 0`
    and :math:`y = s_+ x` for :math:`x > 0`, float64, the test set a copy of the training set."""
    n = check_int("n", n, minimum=2)
    if n % 2:
        raise ValueError(f"n must be even (so that no point sits at x = 0), got {n}")
    slope_left, slope_right = check_real("slope_left", slope_left), check_real("slope_right", slope_right)
    x = torch.linspace(-1, 1, n, dtype=torch.float64)
    y = torch.where(x < 0, slope_left * x, slope_right * x)
    X, Y = x[:, None], y[:, None]
    return DataSplit(X, Y, X.clone(), Y.clone(), f"{n} points, slopes {slope_left:g} | {slope_right:g}")


def relu_loss(a, w, x: np.ndarray, y: np.ndarray):
    r"""Mean squared error of :math:`a\,\mathrm{ReLU}(w x)` on ``(x, y)``, broadcast over arrays ``a`` and ``w``."""
    a, w = np.asarray(a, dtype=float)[..., None], np.asarray(w, dtype=float)[..., None]
    return ((a * np.maximum(w * x, 0.0) - y) ** 2).mean(axis=-1)


def relu_grid(split: DataSplit, bound: float = 3.0, points: int = 241) -> LossGrid:
    """:func:`relu_loss` of ``split``'s training data on a grid of ``(w, a)`` in ``[-bound, bound]^2``."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    axes = grid_axes(bound, points, 2)
    w, a = np.meshgrid(*axes, indexing="ij")
    x, y = split.X_train.double().numpy().ravel(), split.y_train.double().numpy().ravel()
    return LossGrid("ReLU a ReLU(w x)", relu_loss(a, w, x, y), axes, ("$w$", "$a$"), split.description)


def relu_valley_values(split: DataSplit) -> dict:
    r"""The floors of :func:`relu_loss`'s two valleys and its value on the line :math:`w = 0`.

    For :math:`w > 0` the model is :math:`(a w) x` on :math:`x > 0` and 0 on :math:`x < 0`, so the valley's
    floor is the least-squares residual of the right half plus :math:`\frac1n\sum_{x<0} y^2`; for
    :math:`w < 0` the same with the halves swapped; at :math:`w = 0` the loss is :math:`\frac1n \sum y^2`."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    x, y = split.X_train.double().numpy().ravel(), split.y_train.double().numpy().ravel()
    n = len(x)

    def floor(active):
        xs, ys = x[active], y[active]
        slope = (xs @ ys) / (xs @ xs)
        return float((((ys - slope * xs) ** 2).sum() + (y[~active] ** 2).sum()) / n)

    return {"w > 0": floor(x > 0), "w < 0": floor(x < 0), "w = 0": float((y ** 2).mean())}


class ScaledReLUStarts(nn.Module):
    r"""``n_starts`` copies of :math:`m(x) = a\,\mathrm{ReLU}(w x)` trained at once: ``forward(X (N, 1))`` is
    ``(N, n_starts)``, column ``k`` the model with parameters ``(a[k], w[k])``, drawn with ``seed``: :math:`w \sim \mathcal N(0, \mathrm{scale}^2)` and
    :math:`a = |\mathcal N(0, \mathrm{scale}^2)|`, a positive output weight (a start with :math:`a < 0` may instead
    die on the half-line :math:`w = 0, a < 0`, where the loss is flat along :math:`a` and rises in :math:`w`)."""

    def __init__(self, n_starts: int = 200, seed: int = 0, scale: float = 1.5, dtype=torch.float64):
        super().__init__()
        check_int("n_starts", n_starts, minimum=1)
        generator = torch.Generator().manual_seed(check_seed("seed", seed))
        start = check_positive("scale", scale) * torch.randn(2, n_starts, generator=generator, dtype=dtype)
        self.a = nn.Parameter(start[0].abs())
        self.w = nn.Parameter(start[1].clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.a * torch.relu(X * self.w)


def per_start_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over columns of each column's mean squared error, so one step on it is a step of every start."""
    return ((out - y) ** 2).mean(dim=0).sum()


def relu_descent(split: DataSplit, n_starts: int = 200, seed: int = 0, lr: float = 0.1, steps: int = 3000) -> dict:
    r"""Full-batch gradient descent (:func:`lecturelib.train.fit`) of :class:`ScaledReLUStarts` from ``n_starts``
    seeded starts; returns the starts, the ends ``(a, w)`` and each start's final loss (numpy arrays)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    model = ScaledReLUStarts(n_starts, seed)
    start = (model.a.detach().numpy().copy(), model.w.detach().numpy().copy())
    train.fit(model, split, optimizer="sgd", lr=check_positive("lr", lr), epochs=check_int("steps", steps, minimum=1),
              batch_size=None, loss_fn=per_start_mse, seed=seed, eval_every=steps, progress=False)
    with torch.no_grad():
        losses = ((model(split.X_train) - split.y_train) ** 2).mean(dim=0)
    return {"start_a": start[0], "start_w": start[1], "a": model.a.detach().numpy().copy(),
            "w": model.w.detach().numpy().copy(), "loss": losses.numpy().copy()}


def sublevel_panels(grid: LossGrid, levels) -> dict:
    r"""``{level: (labels, count)}``: the face-connected components of :math:`\{L \le \lambda\}` of a 2-D ``grid``
    for each level, precomputed for :func:`lecturelib.widgets.topology.sublevel_widget`."""
    check_type("grid", grid, LossGrid, "a LossGrid")
    if grid.values.ndim != 2:
        raise ValueError(f"grid must be 2-D to be drawn, got {grid.values.ndim} dimensions")
    panels = {}
    for level in levels:
        panels[float(level)] = topology.sublevel_labels(grid.values, check_real("level", level))
    return panels


# ------------------------------------------------------------------ a wider deep linear network

def deep_linear_data(n: int = 64, n_in: int = 3, n_out: int = 2, seed: int = 0) -> DataSplit:
    """Gaussian inputs ``(n, n_in)`` and noisy linear targets ``(n, n_out)`` (float32), test a copy of train."""
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    X = torch.randn(check_int("n", n, minimum=2), check_int("n_in", n_in, minimum=1), generator=generator)
    A = torch.randn(check_int("n_out", n_out, minimum=1), n_in, generator=generator)
    Y = X @ A.T + 0.3 * torch.randn(n, n_out, generator=generator)
    return DataSplit(X, Y, X.clone(), Y.clone(), f"{n} noisy linear targets, {n_in} -> {n_out}")


def least_squares_loss(split: DataSplit) -> float:
    """The global minimum of the mean squared error over linear maps (with bias), in float64."""
    X = torch.cat([split.X_train.double(), torch.ones(len(split.X_train), 1, dtype=torch.float64)], dim=1)
    Y = split.y_train.double()
    coef = torch.linalg.lstsq(X, Y).solution
    return float(((X @ coef - Y) ** 2).mean())


def deep_linear_minima(split: DataSplit, widths=(3, 4, 4, 2), seeds=(1, 2, 3), epochs: int = 400,
                       lr: float = 0.05) -> list:
    """Train the linear network ``models.MLP(widths, "identity")`` (every hidden width above
    ``min(n_0, n_L)``) full-batch with momentum SGD from each seed; cached runs."""
    return [cache.cached_run(cache.RunSpec(f"topology-deep-linear-{seed}", split,
                                           functools.partial(models.MLP, list(widths), "identity"),
                                           optimizer="sgd", lr=lr, momentum=0.9, epochs=epochs, batch_size=None,
                                           seed=seed))
            for seed in seeds]
