r"""Dynamic String Sampling (Freeman & Bruna 2016): a low-loss path between two parameter points.

Two networks :math:`\theta_a, \theta_b` whose losses lie below a threshold :math:`\lambda` are in
the same component of :math:`\Omega_L(\lambda) = \{\theta : L(\theta)\le\lambda\}` exactly when a
continuous path joins them without :math:`L` rising above :math:`\lambda`. Freeman & Bruna's greedy
algorithm looks for a piecewise-linear path, a "string" of points :math:`\theta_a = p_0, p_1, \dots,
p_n = \theta_b`:

1. Evaluate :math:`L` along the segment :math:`[p_i, p_{i+1}]` at ``resolution`` equally spaced
   points (all at once with :func:`lecturelib.landscape.engine.evaluate_affine`).
2. If the largest value is at most :math:`\lambda`, the segment is done. Otherwise insert a
   *pivot* :math:`q` found by minimising :math:`L` from the segment's midpoint
   :math:`m = (p_i + p_{i+1})/2`, and treat :math:`[p_i, q]` and :math:`[q, p_{i+1}]` the same way.
3. Stop when every segment lies in :math:`\Omega_L(\lambda)` (the path *succeeded*), or when the
   budget of insertions (``max_insertions``) or of nesting (``max_depth``) runs out.

The pivot's minimisation is constrained, as in Freeman & Bruna, to keep it between the two points
it splits. What is done here: plain gradient descent restricted to the hyperplane through
:math:`m` orthogonal to the segment,

.. math::

    q \leftarrow q - \eta\,\Big(I - \tfrac{uu^\top}{\|u\|^2}\Big)\nabla L(q), \qquad u = p_{i+1} - p_i,

so :math:`q` stays equidistant from :math:`p_i` and :math:`p_{i+1}` and cannot slide into either
end's basin. The descent starts at :math:`m` plus a seeded Gaussian kick of norm ``jitter``
:math:`\cdot\|u\|` inside that hyperplane (without it a barrier symmetric about the segment, where
the constrained gradient vanishes, would never be left), and stops once :math:`L(q)` is at most
``target`` (default: halfway between the larger endpoint loss and :math:`\lambda`, leaving room for
the new segments) or after ``steps`` steps. A pivot whose loss is still above :math:`\lambda` is
not inserted: that segment stays unresolved and the path fails. Segments are refined depth first,
left to right, so when the budget runs out the unresolved ones are at the end of the path.

The *normalised geodesic length* of the result is :math:`\sum_i \|p_{i+1} - p_i\| / \|\theta_b -
\theta_a\|`: 1 for a straight path, larger the more the path must bend around high-loss regions
(Freeman & Bruna use it as a measure of the level set's curvature). Losses are the full-batch mean
loss on ``(X, y)`` of the model in evaluation mode: cross-entropy for integer targets, mean squared
error for float targets, unless ``loss_fn`` is given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .. import params
from .._checks import (check_callable, check_int, check_module, check_nonnegative, check_positive, check_real,
                       check_seed, check_tensor)
from ..device import model_device
from ..landscape.engine import evaluate_affine
from ..losses import default_loss

__all__ = ["StringPath", "dynamic_string_sampling"]


@dataclass
class StringPath:
    r"""A piecewise-linear path found by :func:`dynamic_string_sampling`.

    Attributes:
        points: parameter dicts :math:`p_0 = \theta_a, \dots, p_n = \theta_b` (detached copies).
        position: float64, where each loss sample lies along the path, as a fraction of its length.
        losses: float64, the loss at those samples (``resolution`` per segment, shared ends once).
        segment_max: float64, the largest sampled loss on each of the ``n`` segments.
        pivot_losses: float64, the loss at each inserted point, in path order.
        max_loss: the largest sampled loss on the whole path.
        threshold: the level :math:`\lambda`.
        succeeded: every segment's samples are at most :math:`\lambda`.
        inserted: the number of inserted points (``len(points) - 2``).
        attempts: the number of pivot searches, successful or not.
        normalised_length: path length over the straight-line distance (1 for a straight path).
        depth: the deepest nesting of splits reached (0 when the straight segment was kept).
    """

    points: list
    position: np.ndarray
    losses: np.ndarray
    segment_max: np.ndarray
    pivot_losses: np.ndarray
    max_loss: float
    threshold: float
    succeeded: bool
    inserted: int
    attempts: int
    normalised_length: float
    depth: int = field(default=0)

    def vectors(self) -> torch.Tensor:
        """The points as rows of one float64 CPU tensor ``(n + 1, P)`` (:func:`lecturelib.params.flatten`)."""
        return torch.stack([params.flatten(p, dtype=torch.float64).cpu() for p in self.points])


def _as_point(name, point, like, dev):
    """``point`` (a parameter dict or a flat vector) as a dict shaped like ``like`` on ``dev``."""
    if isinstance(point, torch.Tensor):
        check_tensor(name, point, ndim=1, floating=True, finite=True)
        total = sum(v.numel() for v in like.values())
        if point.numel() != total:
            raise ValueError(f"{name} has {point.numel()} entries but the model has {total} parameters")
        point = params.unflatten(point.detach(), like)
    elif not isinstance(point, dict):
        raise TypeError(f"{name} must be a parameter dict {{name: tensor}} or a flat parameter vector, "
                        f"got {type(point).__name__}")
    if list(point) != list(like) and set(point) != set(like):
        missing, extra = sorted(set(like) - set(point))[:3], sorted(set(point) - set(like))[:3]
        raise ValueError(f"{name} must hold exactly the model's parameters; missing {missing}, unknown {extra}")
    out = {}
    for key, ref in like.items():
        value = point[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(ref.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name}[{key!r}] must be a tensor of shape {tuple(ref.shape)}, got {shape}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name}[{key!r}] holds NaN or infinite entries")
        out[key] = value.detach().to(device=dev, dtype=ref.dtype).clone()
    return out


class _Search:
    """The state of one string search: the model, data, settings and the budget spent so far."""

    def __init__(self, model, X, y, loss_fn, dev, settings):
        self.model, self.X, self.y, self.loss_fn, self.dev = model, X, y, loss_fn, dev
        self.work = copy.deepcopy(model).to(dev).eval()
        for p in self.work.parameters():
            p.requires_grad_(False)
        self.like = params.state(self.work)
        self.Xd, self.yd = X.to(dev), y.to(dev)
        self.grad_loss = loss_fn if loss_fn is not None else default_loss(y)
        self.__dict__.update(settings)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.inserted = self.attempts = self.depth = 0

    def segment(self, a, b):
        t = torch.linspace(0, 1, self.resolution, dtype=torch.float64)
        direction = {k: b[k] - a[k] for k in a}
        loss, _ = evaluate_affine(self.model, self.X, self.y, [direction], t[:, None], origin=a,
                                  loss_fn=self.loss_fn, device=self.dev)
        return loss

    def loss_and_grad(self, x):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = functional_call(self.work, params.unflatten(x, self.like), (self.Xd,))
            loss = self.grad_loss(out, self.yd)
            (grad,) = torch.autograd.grad(loss, x)
        return float(loss.detach()), grad

    def pivot(self, a, b, target):
        """Constrained descent from the midpoint of ``[a, b]``: returns ``(point, loss)``."""
        xa, xb = params.flatten(a), params.flatten(b)
        u = (xb - xa).double()
        u = u / u.norm()
        x = (xa + xb) / 2
        if self.jitter > 0:
            kick = torch.randn(x.numel(), generator=self.generator, dtype=torch.float64)
            kick = kick - (kick @ u) * u
            kick = kick / kick.norm().clamp_min(1e-300) * self.jitter * float((xb - xa).double().norm())
            x = x + kick.to(device=x.device, dtype=x.dtype)
        u = u.to(device=x.device, dtype=x.dtype)
        loss = float("inf")
        for _ in range(self.steps + 1):
            loss, grad = self.loss_and_grad(x)
            if loss <= target:
                break
            grad = grad - (grad @ u) * u
            x = x - self.lr * grad
        return params.unflatten(x.detach().clone(), self.like), loss

    def refine(self, a, b, loss_a, loss_b, depth):
        """Pieces ``[(end point, losses along the piece, pivot loss or None)]`` covering ``[a, b]``."""
        self.depth = max(self.depth, depth)
        losses = self.segment(a, b)
        if (losses.max() <= self.threshold or depth >= self.max_depth
                or self.inserted >= self.max_insertions):
            return [(b, losses, None)]
        target = self.target if self.target is not None else (max(loss_a, loss_b) + self.threshold) / 2
        self.attempts += 1
        q, loss_q = self.pivot(a, b, target)
        if not loss_q <= self.threshold:
            return [(b, losses, None)]
        self.inserted += 1
        left = self.refine(a, q, loss_a, loss_q, depth + 1)
        left[-1] = (left[-1][0], left[-1][1], loss_q)
        return left + self.refine(q, b, loss_q, loss_b, depth + 1)


def dynamic_string_sampling(model: nn.Module, X: torch.Tensor, y: torch.Tensor, start, end, threshold: float,
                            resolution: int = 17, max_insertions: int = 16, max_depth: int = 6,
                            steps: int = 200, lr: float = 0.1, jitter: float = 0.05, target: float | None = None,
                            seed: int = 0, loss_fn=None, device=None) -> StringPath:
    r"""Freeman & Bruna's Dynamic String Sampling from ``start`` to ``end`` at level ``threshold``.

    Args:
        model: the architecture (its own weights are not used and never modified).
        X, y: the data of the loss :math:`L` (full batch).
        start, end: the two points, parameter dicts keyed like ``model.named_parameters()`` or
            flat vectors (:func:`lecturelib.params.flatten` order); both must have loss at most
            ``threshold``.
        threshold: the level :math:`\lambda`.
        resolution: samples per segment, ends included (at least 3).
        max_insertions, max_depth: the budget: inserted points in all, and nested splits of a segment.
        steps, lr: the pivot's constrained gradient descent (module docstring).
        jitter: the kick off the midpoint, as a fraction of the segment's length.
        target: the loss at which a pivot's descent stops (at most ``threshold``; default: halfway
            between the larger endpoint loss and ``threshold``).
        seed: seeds the kicks. loss_fn: ``loss_fn(output, y) -> mean loss`` (must work under vmap).
        device: where to compute (default: where the model is).

    Returns:
        a :class:`StringPath`.
    """
    check_module("model", model, trainable=True)
    check_tensor("X", X, min_ndim=1, finite=True, nonempty=True)
    check_tensor("y", y, min_ndim=1, finite=True)
    if len(X) != len(y):
        raise ValueError(f"X and y must hold the same number of samples, got {len(X)} and {len(y)}")
    threshold = check_real("threshold", threshold)
    settings = dict(threshold=threshold, resolution=check_int("resolution", resolution, minimum=3),
                    max_insertions=check_int("max_insertions", max_insertions, minimum=0),
                    max_depth=check_int("max_depth", max_depth, minimum=0), steps=check_int("steps", steps, minimum=0),
                    lr=check_positive("lr", lr), jitter=check_nonnegative("jitter", jitter),
                    target=None if target is None else check_real("target", target, maximum=threshold),
                    seed=check_seed("seed", seed))
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)
    dev = model_device(model, device)
    search = _Search(model, X, y, loss_fn, dev, settings)
    a, b = _as_point("start", start, search.like, dev), _as_point("end", end, search.like, dev)
    distance = float((params.flatten(b) - params.flatten(a)).double().norm())
    if not distance > 0:
        raise ValueError("start and end are the same point: there is no path to find")
    ends = search.segment(a, b)[[0, -1]]
    for name, value in zip(("start", "end"), ends):
        if not value <= threshold:
            raise ValueError(f"{name} has loss {value:.4g}, above threshold {threshold:.4g}: it lies outside the "
                             "sublevel set, so no path inside it can begin or end there")
    pieces = search.refine(a, b, float(ends[0]), float(ends[1]), 0)
    return _assemble(a, pieces, distance, search)


def _assemble(a, pieces, distance, search) -> StringPath:
    points, lengths = [a], []
    for b, _, _ in pieces:
        lengths.append(float((params.flatten(b) - params.flatten(points[-1])).double().norm()))
        points.append(b)
    total = sum(lengths)
    offsets = np.concatenate([[0.0], np.cumsum(lengths)]) / total
    fractions = np.linspace(0, 1, search.resolution)
    position = [np.zeros(1)] + [offsets[i] + fractions[1:] * (offsets[i + 1] - offsets[i]) for i in range(len(pieces))]
    losses = [pieces[0][1][:1]] + [piece[1][1:] for piece in pieces]
    segment_max = np.array([float(piece[1].max()) for piece in pieces])
    max_loss = float(segment_max.max())
    return StringPath(points=points, position=np.concatenate(position), losses=np.concatenate(losses),
                      segment_max=segment_max,
                      pivot_losses=np.array([p[2] for p in pieces if p[2] is not None], dtype=np.float64),
                      max_loss=max_loss, threshold=search.threshold, succeeded=bool(max_loss <= search.threshold),
                      inserted=search.inserted, attempts=search.attempts, normalised_length=total / distance,
                      depth=search.depth)
