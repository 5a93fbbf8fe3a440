"""Trajectories: the iterates of an optimiser on a test function, in float64.

``trajectory(function, make_optimizer, start, steps)`` puts one float64 parameter tensor at
``start``, builds the optimiser on it with ``make_optimizer([param])`` (a class such as
``functools.partial(optim.Adam, lr=0.1)`` or ``functools.partial(torch.optim.SGD, lr=0.01)``), and
takes ``steps`` steps of ``zero_grad(); f(param).backward(); step()``, recording every iterate and
its value (the start included). A run that diverges keeps its infinite or NaN values, so the
caller can see where it blew up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .._checks import check_callable, check_int, check_type
from .functions import TestFunction

__all__ = ["Trajectory", "trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """``points`` ``(steps + 1, d)`` and ``values`` ``(steps + 1,)``, float64, start first."""

    points: torch.Tensor
    values: torch.Tensor

    @property
    def final(self) -> torch.Tensor:
        """The last iterate, shape ``(d,)``."""
        return self.points[-1]

    def distance_to(self, point) -> torch.Tensor:
        """Euclidean distance of every iterate to ``point`` (``d`` numbers), shape ``(steps + 1,)``."""
        target = torch.as_tensor(point, dtype=torch.float64)
        return torch.linalg.vector_norm(self.points - target, dim=-1)


def _check_start(start, dim: int) -> torch.Tensor:
    if isinstance(start, torch.Tensor):
        values = start.detach().to(dtype=torch.float64, device="cpu").reshape(-1)
    else:
        check_type("start", start, (tuple, list), "a point: a tuple, list or tensor of numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in start):
            raise TypeError(f"start must hold numbers, got {start!r}")
        values = torch.tensor([float(v) for v in start], dtype=torch.float64)
    if values.numel() != dim:
        raise ValueError(f"start must have {dim} coordinates for this function, got {values.numel()}")
    if not all(math.isfinite(v) for v in values.tolist()):
        raise ValueError(f"start must be finite, got {values.tolist()}")
    return values


def trajectory(function: TestFunction | Callable, make_optimizer: Callable, start, steps: int) -> Trajectory:
    """Run ``make_optimizer([param])`` for ``steps`` steps on ``function`` from ``start``.

    ``function`` is a :class:`~lecturelib.optim.functions.TestFunction` or any callable mapping a
    point ``(d,)`` to a scalar (then ``start`` fixes ``d``). Returns a :class:`Trajectory` in float64.
    """
    check_callable("make_optimizer", make_optimizer)
    steps = check_int("steps", steps, minimum=0)
    if isinstance(function, TestFunction):
        point = _check_start(start, function.dim)
        value = function.value
    else:
        check_callable("function", function)
        point = _check_start(start, len(start) if not isinstance(start, torch.Tensor) else start.numel())
        value = function
    param = point.clone().requires_grad_(True)
    optimizer = make_optimizer([param])
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer must return a torch.optim.Optimizer, got {type(optimizer).__name__}")
    points = torch.empty(steps + 1, point.numel(), dtype=torch.float64)
    values = torch.empty(steps + 1, dtype=torch.float64)
    for step in range(steps + 1):
        optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = value(param)
        if loss.dim() != 0:
            raise ValueError(f"function must return a scalar at one point, got shape {tuple(loss.shape)}")
        points[step] = param.detach()
        values[step] = loss.detach()
        if step < steps:
            loss.backward()
            optimizer.step()
    return Trajectory(points, values)
