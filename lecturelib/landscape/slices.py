r"""Loss-landscape slices (Li et al. 2018, *Visualizing the Loss Landscape of Neural Nets*).

A landscape slice evaluates the loss at parameters moved away from a point :math:`\theta^*`
along one or two directions (:mod:`lecturelib.landscape.directions`),

.. math::

    f(\alpha) = L(\theta^* + \alpha\,\delta), \qquad
    f(\alpha, \beta) = L(\theta^* + \alpha\,\delta + \beta\,\eta),

on data ``X, y`` with the model in evaluation mode, through the engine
:func:`lecturelib.landscape.engine.evaluate_affine`: where the model is, unless ``device=`` is given.
Inside a ``torch.distributed`` process group (``torchrun``) the grid points are split across the
ranks and every rank receives the whole result (:mod:`lecturelib.landscape.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._checks import check_int, check_module, check_real
from .directions import direction_between, make_generator, random_direction
from .distributed import evaluate_split

__all__ = ["LandscapeResult", "plane", "line", "interpolate"]


@dataclass
class LandscapeResult:
    """Loss (and accuracy) on a 1-D or 2-D grid of coefficients.

    For a plane, ``loss[i, j]`` is the loss at ``alphas[i]`` along the first direction and
    ``betas[j]`` along the second, so ``loss`` has shape ``(len(alphas), len(betas))``; to draw it
    with ``alpha`` on the x axis, pass ``loss.T`` to matplotlib (see
    :mod:`lecturelib.plotting.landscape`). For a line or an interpolation, ``betas`` is ``None`` and
    ``loss`` has shape ``(len(alphas),)``. ``accuracy`` (a fraction in [0, 1], same shape) is
    ``None`` for regression targets. All arrays are NumPy ``float64``.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray | None = None

    @property
    def is_plane(self) -> bool:
        """True for a 2-D slice."""
        return self.betas is not None

    def at_origin(self) -> float:
        """Loss at the grid point nearest to the origin (the trained model itself, for a plane or line)."""
        i = int(np.argmin(np.abs(self.alphas)))
        if self.betas is None:
            return float(self.loss[i])
        return float(self.loss[i, int(np.argmin(np.abs(self.betas)))])


def _grid_axis(name, steps, span):
    check_int("steps", steps, minimum=2)
    if not isinstance(span, (tuple, list)) or len(span) != 2:
        raise ValueError(f"{name} span must be a pair (low, high) with low < high, got {span!r}")
    low, high = (check_real(f"span ({name} axis)", v) for v in span)
    if not low < high:
        raise ValueError(f"{name} span must be a pair (low, high) with low < high, got {span!r}")
    return np.linspace(low, high, int(steps))


def _pair(value, name):
    """``steps``/``span`` may be given once for both axes or as a pair (alpha, beta)."""
    if name == "steps":
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError(f"steps must be an int or a pair (n_alpha, n_beta), got {value!r}")
            return value[0], value[1]
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (tuple, list)) for v in value):
        return value[0], value[1]
    return value, value


def _default_directions(model, count, norm, ignore, seed, kind):
    generator = make_generator(seed if seed is not None else 0)
    return [random_direction(model, norm=norm, ignore=ignore, generator=generator, kind=kind) for _ in range(count)]


def plane(model: nn.Module, X: torch.Tensor, y: torch.Tensor, directions=None, steps=51,
          span=(-1.0, 1.0), origin: dict | None = None, loss_fn=None, norm="filter", ignore="biasbn",
          seed: int = 0, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
          batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""The 2-D slice :math:`f(\alpha, \beta) = L(\theta^* + \alpha\delta + \beta\eta)` (Li et al. 2018).

    Args:
        model: the network; its parameters give :math:`\theta^*` unless ``origin`` is given.
        X, y: the data the loss is averaged over (integer ``y``: cross-entropy and accuracy;
            float ``y``: mean squared error), evaluated with the model in evaluation mode.
        directions: a pair ``(delta, eta)`` of direction dicts (any keys among the parameters
            and floating buffers; missing keys do not move). ``None`` draws two
            :func:`random_direction` with ``norm``, ``ignore``, ``kind`` from ``seed``.
        steps: grid points per axis, an int or a pair ``(n_alpha, n_beta)``; default 51 x 51.
        span: ``(low, high)`` for both axes or ``((a_low, a_high), (b_low, b_high))``.
        origin: optional dict ``name -> tensor`` replacing :math:`\theta^*` entries.
        loss_fn: ``loss_fn(output, y) -> mean loss``; defaults as in :func:`lecturelib.losses.default_loss`.
        engine: ``"auto"``, ``"vmap"`` (many grid points per vectorised forward) or ``"loop"``
            (one point at a time); see :func:`lecturelib.landscape.engine.evaluate_affine`.
        chunk_size: grid points per vectorised forward (``None``: chosen from a memory budget).
        batch_size: samples per forward (``None``: all at once when they fit).
        device: where to evaluate; defaults to where the model is (:func:`lecturelib.device.model_device`).

    Returns:
        :class:`LandscapeResult` with ``loss[i, j]`` at ``(alphas[i], betas[j])``.
    """
    check_module("model", model)
    steps_a, steps_b = _pair(steps, "steps")
    span_a, span_b = _pair(span, "span")
    alphas = _grid_axis("alpha", steps_a, span_a)
    betas = _grid_axis("beta", steps_b, span_b)
    if directions is None:
        directions = _default_directions(model, 2, norm, ignore, seed, kind)
    if not isinstance(directions, (tuple, list)) or len(directions) != 2:
        raise ValueError(f"directions must be a pair of direction dicts or None, got {type(directions).__name__}"
                         f"{'' if not isinstance(directions, (tuple, list)) else f' of length {len(directions)}'}")
    # (n_alpha * n_beta, 2) coefficients, alpha-major so that a reshape gives loss[i, j]
    grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")
    coefficients = torch.as_tensor(np.stack([grid_a.ravel(), grid_b.ravel()], axis=1))
    loss, accuracy = evaluate_split(model, X, y, list(directions), coefficients, origin=origin,
                                    loss_fn=loss_fn, engine=engine, chunk_size=chunk_size,
                                    batch_size=batch_size, device=device)
    shape = (len(alphas), len(betas))
    return LandscapeResult(alphas, betas, loss.reshape(shape),
                           None if accuracy is None else accuracy.reshape(shape))


def line(model: nn.Module, X: torch.Tensor, y: torch.Tensor, direction: dict | None = None, steps: int = 51,
         span=(-1.0, 1.0), origin: dict | None = None, loss_fn=None, norm="filter", ignore="biasbn",
         seed: int = 0, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
         batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""The 1-D slice :math:`f(\alpha) = L(\theta^* + \alpha\delta)` along one direction.

    ``direction=None`` draws a :func:`random_direction` (``norm``, ``ignore``, ``kind``) from
    ``seed``. The other arguments are those of :func:`plane`. Returns a
    :class:`LandscapeResult` with ``betas=None`` and ``loss[i]`` at ``alphas[i]``.
    """
    check_module("model", model)
    alphas = _grid_axis("alpha", steps, span)
    if direction is None:
        direction = _default_directions(model, 1, norm, ignore, seed, kind)[0]
    if not isinstance(direction, dict):
        raise TypeError(f"direction must be a dict name -> tensor or None, got {type(direction).__name__}")
    coefficients = torch.as_tensor(alphas).unsqueeze(1)  # (steps, 1)
    loss, accuracy = evaluate_split(model, X, y, [direction], coefficients, origin=origin, loss_fn=loss_fn,
                                    engine=engine, chunk_size=chunk_size, batch_size=batch_size, device=device)
    return LandscapeResult(alphas, None, loss, accuracy)


def interpolate(model_a: nn.Module, model_b: nn.Module, X: torch.Tensor, y: torch.Tensor, alphas=None,
                loss_fn=None, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
                batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""Loss along the straight line :math:`\theta(\alpha) = (1-\alpha)\theta_a + \alpha\theta_b`
    (Goodfellow et al. 2015; Keskar et al. 2017; Li et al. 2018, fig. 2).

    ``alphas`` defaults to :math:`-0.5, -0.45, \dots, 1.5` (41 points, 0 and 1 exactly included).
    ``kind="states"`` also interpolates batch-norm running statistics. The model is evaluated in
    evaluation mode on ``X, y``. Returns a :class:`LandscapeResult` with ``betas=None``.
    """
    check_module("model_a", model_a)
    check_module("model_b", model_b)
    if alphas is None:
        alphas = np.arange(-10, 31) / 20.0
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size < 1 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty 1-D array of finite numbers, got shape {alphas.shape}")
    direction = direction_between(model_a, model_b, kind=kind)
    coefficients = torch.as_tensor(alphas).unsqueeze(1)  # (steps, 1)
    loss, accuracy = evaluate_split(model_a, X, y, [direction], coefficients, loss_fn=loss_fn, engine=engine,
                                    chunk_size=chunk_size, batch_size=batch_size, device=device)
    return LandscapeResult(alphas, None, loss, accuracy)
