r"""Runs of the topology chapter's last two pages: paths between minima, and quadratic networks.

* :func:`width_barriers`: Freeman & Bruna (2016)'s two-layer ReLU networks
  :math:`H(x) = W_2\,\sigma(W_1 x + b_1) + b_2` of width :math:`m`, two minima per seed trained
  independently (one :class:`~lecturelib.models.StackedMLP` for all widths, seeds and ends), and the
  barrier :math:`\max_t L(\phi(t)) - \max(L(\phi(0)), L(\phi(1)))` along the straight line and along a
  trained Bezier curve (:func:`lecturelib.experiments.connectivity.train_curve`) between them.
* :func:`quadratic_starts`: Venturi, Bandeira & Bruna (2019)'s networks with quadratic activation,
  :math:`f(x) = \sum_{j=1}^n a_j (w_j^\top x)^2`, trained by full-batch gradient descent from many
  random starts for every hidden width :math:`n`; the final loss of every start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..._checks import check_int, check_positive, check_seed, check_type
from ...connectivity import Curve, barrier_height, path_profile
from ...data import DataSplit
from ...models import StackedMLP
from ...topology import dynamic_string_sampling
from ...train import fit, fit_stacked
from ..connectivity import train_curve, train_endpoints

__all__ = ["WidthBarriers", "width_barriers", "loglog_slope", "QuadraticStack", "summed_member_mse",
           "member_losses", "QuadraticStarts", "quadratic_data", "quadratic_starts", "DigitBarriers", "digit_barriers"]


def _check_sequence(name, values, minimum):
    if not isinstance(values, (tuple, list)) or not values:
        raise ValueError(f"{name} must be a non-empty tuple of ints, got {values!r}")
    return tuple(check_int(f"every entry of {name}", v, minimum=minimum) for v in values)


# ------------------------------------------------------------------ two-layer ReLU: barrier against width

@dataclass(frozen=True)
class WidthBarriers:
    """Barriers between two independently trained minima, for every width (rows) and seed (columns)."""

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    end_loss: np.ndarray     # (W, S, 2) training MSE of the two ends
    line: np.ndarray         # (W, S) barrier along the straight line
    curve: np.ndarray        # (W, S) barrier along the trained Bezier curve
    line_max: np.ndarray     # (W, S) the highest training loss along the line
    curve_max: np.ndarray    # (W, S) the highest training loss along the curve
    string_max: np.ndarray   # (W, S) the highest training loss along the Dynamic String Sampling path
    string_found: np.ndarray  # (W, S) bool: that path stays below the worse end + string_delta
    string_length: np.ndarray  # (W, S) its length over the straight-line distance
    string_delta: float


def width_barriers(split: DataSplit, widths=(4, 8, 16, 32, 64), seeds=(0, 1, 2), steps: int = 3000,
                   lr: float = 0.01, curve_epochs: int = 200, curve_lr: float = 0.01,
                   string_delta: float = 0.05) -> WidthBarriers:
    r"""Two minima per (width, seed) of ``MLP([n, m, 1], "relu")`` on ``split`` (full-batch Adam,
    ``steps`` steps, all :math:`2 \cdot |widths| \cdot |seeds|` members trained at once by
    :func:`~lecturelib.train.fit_stacked`; the ends of seed ``s`` start from seeds ``2s`` and
    ``2s + 1``), then the straight line and a trained Bezier curve between each pair (training loss
    on 61 points of each path, :func:`~lecturelib.connectivity.path_profile`), and Freeman & Bruna's
    Dynamic String Sampling (:func:`lecturelib.topology.dynamic_string_sampling`, 1000 pivot steps, at
    most 32 insertions, seeded by the seed) at the level of the worse end plus ``string_delta``."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    widths, seeds = _check_sequence("widths", widths, 1), _check_sequence("seeds", seeds, 0)
    steps = check_int("steps", steps, minimum=1)
    curve_epochs = check_int("curve_epochs", curve_epochs, minimum=1)
    check_positive("lr", lr), check_positive("curve_lr", curve_lr), check_positive("string_delta", string_delta)
    n_in = split.X_train.shape[1]
    members = [(m, s, end) for m in widths for s in seeds for end in (0, 1)]
    stack = StackedMLP.from_seeds([[n_in, m, 1] for m, _, _ in members], "relu",
                                  seeds=[2 * s + end for _, s, end in members])
    fit_stacked(stack, split, optimizer="adam", lr=lr, epochs=steps, eval_every=steps)
    nets = dict(zip(members, stack.to_mlps()))
    shape = (len(widths), len(seeds))
    out = {key: np.zeros(shape) for key in ("line", "curve", "line_max", "curve_max", "string_max", "string_length")}
    out["string_found"] = np.zeros(shape, dtype=bool)
    end_loss = np.zeros(shape + (2,))
    X, y = split.X_train, split.y_train
    for i, m in enumerate(widths):
        for j, s in enumerate(seeds):
            start, end = nets[(m, s, 0)], nets[(m, s, 1)]
            line = path_profile(Curve(start, end, "line"), X, y)
            bend = train_curve(start, end, split, "bezier", epochs=curve_epochs, lr=curve_lr,
                               batch_size=len(X), seed=s).model
            curve = path_profile(bend, X, y)
            end_loss[i, j] = line.loss[0], line.loss[-1]
            out["line"][i, j], out["curve"][i, j] = barrier_height(line), barrier_height(curve)
            out["line_max"][i, j], out["curve_max"][i, j] = line.loss.max(), curve.loss.max()
            string = dynamic_string_sampling(start, X, y, _detached(start), _detached(end),
                                             float(end_loss[i, j].max()) + string_delta, steps=1000,
                                             max_insertions=32, seed=s)
            out["string_max"][i, j], out["string_found"][i, j] = string.max_loss, string.succeeded
            out["string_length"][i, j] = string.normalised_length
    return WidthBarriers(widths, seeds, end_loss, string_delta=string_delta, **out)


def _detached(net):
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def loglog_slope(x, values) -> float:
    """Least-squares slope of ``log(values)`` against ``log(x)`` (every value must be positive)."""
    x, values = np.asarray(x, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if x.shape != values.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and values must be 1-D of the same length >= 2, got {x.shape} and {values.shape}")
    if np.any(x <= 0) or np.any(values <= 0):
        raise ValueError("x and values must be positive for a log-log slope")
    return float(np.polyfit(np.log(x), np.log(values), 1)[0])


# ------------------------------------------------------------------ quadratic activations

class QuadraticStack(nn.Module):
    r"""``K`` one-hidden-layer networks with quadratic activation, :math:`f_k(x) = \sum_j a_{kj}
    (w_{kj}^\top x)^2`, evaluated at once: ``forward(X)`` returns ``(N, K)``. Member ``k`` has
    ``widths[k]`` hidden units; the others of the padded ``max(widths)`` are masked out (zero output,
    zero gradient). Weights :math:`w_{kj} \sim N(0, I)` and :math:`a_{kj} \sim N(0, 1/n_k)`,
    drawn from ``seed``."""

    def __init__(self, widths, n_inputs: int, seed: int = 0):
        super().__init__()
        widths = _check_sequence("widths", widths, 1)
        n_inputs = check_int("n_inputs", n_inputs, minimum=1)
        generator = torch.Generator().manual_seed(check_seed("seed", seed))
        K, n = len(widths), max(widths)
        mask = (torch.arange(n)[None, :] < torch.tensor(widths)[:, None]).to(torch.float64)
        self.register_buffer("mask", mask)
        scale = torch.tensor(widths, dtype=torch.float64)[:, None] ** -0.5
        self.W = nn.Parameter(torch.randn(K, n, n_inputs, generator=generator, dtype=torch.float64))
        self.a = nn.Parameter(torch.randn(K, n, generator=generator, dtype=torch.float64) * scale * mask)
        self.widths = widths

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        hidden = torch.einsum("nd,kjd->nkj", X, self.W) ** 2   # (N, K, n)
        return (hidden * (self.a * self.mask)).sum(-1)       # (N, K)


def summed_member_mse(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""The sum over members of each member's mean squared error, :math:`\sum_k \frac1N\sum_i
    (f_k(x_i) - y_i)^2`, so that one step on it is one gradient-descent step of every member."""
    return ((outputs - y) ** 2).mean(0).sum()


def member_losses(model: QuadraticStack, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each member's mean squared error on ``(X, y)``."""
    with torch.no_grad():
        return ((model(X) - y) ** 2).mean(0).numpy()


def quadratic_data(n_points: int = 8, n_inputs: int = 5, seed: int = 0) -> DataSplit:
    r"""``n_points`` inputs drawn uniformly on the unit sphere of :math:`\mathbb R^{n_\text{inputs}}` with
    targets :math:`y_i \sim N(0, 1)`, unrelated to the inputs (a pure fitting problem); the test split
    is the training split (only the training loss matters here)."""
    n_points = check_int("n_points", n_points, minimum=1)
    n_inputs = check_int("n_inputs", n_inputs, minimum=1)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    X = torch.randn(n_points, n_inputs, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.randn(n_points, 1, generator=generator, dtype=torch.float64)
    return DataSplit(X, y, X, y, f"{n_points} Gaussian points in R^{n_inputs}, Gaussian targets")


@dataclass(frozen=True)
class QuadraticStarts:
    """Final training losses of ``starts`` runs for every hidden width: ``loss[i, r]`` for width ``widths[i]``."""

    widths: tuple[int, ...]
    n_points: int
    loss: np.ndarray

    def failed(self, tol: float) -> np.ndarray:
        """Fraction of runs per width whose final loss is above ``tol``."""
        check_positive("tol", tol)
        return (~(self.loss <= tol)).mean(axis=1)  # NaN (a diverged run) counts as failed


def quadratic_starts(split: DataSplit, widths=tuple(range(1, 25)), starts: int = 30, steps: int = 4000,
                     lr: float = 0.005, seed: int = 0) -> QuadraticStarts:
    r"""Train :class:`QuadraticStack` members, ``starts`` per width, by full-batch gradient descent with
    momentum 0.9 (``lr``, ``steps`` steps) on :func:`summed_member_mse` through
    :func:`~lecturelib.train.fit`; return every member's final training loss."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    widths = _check_sequence("widths", widths, 1)
    starts = check_int("starts", starts, minimum=1)
    steps = check_int("steps", steps, minimum=1)
    model = QuadraticStack([m for m in widths for _ in range(starts)], split.X_train.shape[1], seed)
    fit(model, split, optimizer="sgd", lr=lr, momentum=0.9, epochs=steps, batch_size=len(split.X_train),
        loss_fn=summed_member_mse, eval_every=steps, seed=seed)
    loss = member_losses(model, split.X_train, split.y_train).reshape(len(widths), starts)
    return QuadraticStarts(widths, len(split.X_train), loss)


# ------------------------------------------------------------------ the connectivity chapter's width exercise

@dataclass(frozen=True)
class DigitBarriers:
    """Barriers between the connectivity chapter's two minima on digits, for one hidden width."""

    width: int
    seeds: tuple[int, int]
    line_loss: float      # barrier of the training loss along the line
    curve_loss: float     # ... along the trained Bezier curve
    line_error: float     # barrier of the test error (a fraction) along the line
    curve_error: float    # ... along the Bezier curve


def digit_barriers(split: DataSplit, width: int = 64, seeds=(1, 2)) -> DigitBarriers:
    """The connectivity chapter's recipe (``book/connectivity/plane.ipynb``) with hidden width ``width``:
    endpoints ``widths=(64, width, width, 10)`` of
    :func:`~lecturelib.experiments.connectivity.train_endpoints` (cached), a Bezier curve trained for 50 epochs at
    ``lr=1e-3``, and the barriers of the training loss and test error along the line and the curve."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    width = check_int("width", width, minimum=1)
    if not isinstance(seeds, (tuple, list)) or len(seeds) != 2:
        raise ValueError(f"seeds must be two ints, got {seeds!r}")
    w1, w2 = (run.model for run in train_endpoints(split, seeds=tuple(seeds), widths=(64, width, width, 10)))
    bezier = train_curve(w1, w2, split, "bezier", epochs=50, lr=1e-3).model
    line = Curve(w1, w2, "line")
    train = {kind: path_profile(c, split.X_train, split.y_train) for kind, c in (("line", line), ("curve", bezier))}
    test = {kind: path_profile(c, split.X_test, split.y_test) for kind, c in (("line", line), ("curve", bezier))}
    return DigitBarriers(width, tuple(seeds), barrier_height(train["line"]), barrier_height(train["curve"]),
                         barrier_height(test["line"].error), barrier_height(test["curve"].error))
