r"""Test functions for optimiser trajectories: torch functions of points with known critical points.

Each :class:`TestFunction` maps points of shape ``(..., d)`` to values of shape ``(...)`` (any
floating dtype, differentiable by autograd), knows its minima (and saddle points or maxima where
they matter) exactly, and carries a plotting domain, one ``(low, high)`` pair per coordinate.

==================  =====  ==========================================================  ==================
name                d      :math:`f`                                                   minima
==================  =====  ==========================================================  ==================
``ravine``          2      :math:`\tfrac12 (x^2 + \kappa y^2)` (condition number κ)     :math:`(0, 0)`
``rosenbrock``      2      :math:`(a - x)^2 + b (y - x^2)^2`                            :math:`(a, a^2)`
``saddle``          2      :math:`x^2 - y^2`                                            none; saddle 0
``monkey_saddle``   2      :math:`x^3 - 3 x y^2`                                        none; saddle 0
``plateau``         2      :math:`\tanh((x - 1)^2) + \tfrac12 y^2`                      :math:`(1, 0)`
``basins_1d``       1      :math:`\int_0^x \prod_i (s - c_i)\, ds`                      :math:`-2, 0.5, 2.5`
==================  =====  ==========================================================  ==================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch

from .._checks import check_positive, check_real, check_tensor

__all__ = ["TestFunction", "ravine", "rosenbrock", "saddle", "monkey_saddle", "plateau", "basins_1d", "FUNCTIONS"]


@dataclass(frozen=True)
class TestFunction:
    """A function of points ``(..., d) -> (...)`` with its known critical points and a plotting domain.

    ``minima``, ``saddles`` and ``maxima`` are tuples of points (each a tuple of ``d`` floats);
    ``domain`` is ``((low, high),) * d``, the box a figure shows.
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    value: Callable[[torch.Tensor], torch.Tensor]
    minima: tuple
    domain: tuple
    saddles: tuple = ()
    maxima: tuple = ()
    description: str = ""

    @property
    def dim(self) -> int:
        """The number of coordinates of a point."""
        return len(self.domain)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """``value(points)`` after checking that the last axis has ``dim`` entries."""
        check_tensor("points", points, min_ndim=1, floating=True)
        if points.shape[-1] != self.dim:
            raise ValueError(f"points for {self.name} must have shape (..., {self.dim}), got {tuple(points.shape)}")
        return self.value(points)

    def gradient(self, points: torch.Tensor) -> torch.Tensor:
        """The gradient at each point, shape ``(..., d)``, by autograd (no graph is kept)."""
        with torch.enable_grad():
            x = points.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(x).sum(), x)
        return grad

    def describe(self) -> dict:
        """A JSON description (for run keys): the name, the critical points and the domain."""
        return {"name": self.name, "minima": [list(m) for m in self.minima], "domain": [list(d) for d in self.domain],
                "description": self.description}


def _ravine_value(points, kappa):
    return 0.5 * (points[..., 0] ** 2 + kappa * points[..., 1] ** 2)


def ravine(kappa: float = 50.0) -> TestFunction:
    r"""The ill-conditioned quadratic :math:`f(x, y) = \tfrac12 (x^2 + \kappa y^2)`: steep vertically,
    shallow horizontally.

    Its Hessian is :math:`\mathrm{diag}(1, \kappa)`, so its condition number is ``kappa``;
    gradient descent is stable only for :math:`\alpha < 2/\kappa` and then contracts the shallow
    coordinate by :math:`1 - \alpha` per step (about κ steps per e-fold), whereas heavy-ball
    momentum tuned to the two curvatures needs about √κ. Minimum :math:`(0, 0)`, value 0.
    """
    kappa = check_positive("kappa", kappa)
    return TestFunction("ravine", functools.partial(_ravine_value, kappa=kappa), minima=((0.0, 0.0),),
                        domain=((-3.0, 3.0), (-1.5, 1.5)), description=f"0.5 (x^2 + {kappa:g} y^2)")


def _rosenbrock_value(points, a, b):
    x, y = points[..., 0], points[..., 1]
    return (a - x) ** 2 + b * (y - x ** 2) ** 2


def rosenbrock(a: float = 1.0, b: float = 100.0) -> TestFunction:
    r"""Rosenbrock's banana valley :math:`f(x, y) = (a - x)^2 + b (y - x^2)^2` (Rosenbrock 1960).

    One minimum, :math:`(a, a^2)` with value 0, at the end of a long curved flat-bottomed valley.
    """
    a = check_real("a", a)
    b = check_positive("b", b)
    return TestFunction("rosenbrock", functools.partial(_rosenbrock_value, a=a, b=b), minima=((a, a * a),),
                        domain=((-2.0, 2.0), (-1.0, 3.0)), description=f"({a:g} - x)^2 + {b:g} (y - x^2)^2")


def _saddle_value(points):
    return points[..., 0] ** 2 - points[..., 1] ** 2


def saddle() -> TestFunction:
    r"""The saddle :math:`f(x, y) = x^2 - y^2`: no minimum, one saddle point at the origin.

    The Hessian there is :math:`\mathrm{diag}(2, -2)`. Gradient descent started exactly at the
    saddle stays (the gradient is 0); started at :math:`(0, \varepsilon)` it escapes as
    :math:`y_t = (1 + 2\alpha)^t \varepsilon`, the rate set by the negative eigenvalue -2.
    """
    return TestFunction("saddle", _saddle_value, minima=(), saddles=((0.0, 0.0),),
                        domain=((-1.5, 1.5), (-1.5, 1.5)), description="x^2 - y^2")


def _monkey_value(points):
    x, y = points[..., 0], points[..., 1]
    return x ** 3 - 3 * x * y ** 2


def monkey_saddle() -> TestFunction:
    r"""The monkey saddle :math:`f(x, y) = x^3 - 3 x y^2 = \mathrm{Re}\,(x + iy)^3`: no minimum, and a
    degenerate saddle at the origin where gradient *and* Hessian vanish (three valleys, for
    the two legs and the tail), so a second-order test cannot classify it.
    """
    return TestFunction("monkey_saddle", _monkey_value, minima=(), saddles=((0.0, 0.0),),
                        domain=((-1.5, 1.5), (-1.5, 1.5)), description="x^3 - 3 x y^2")


def _plateau_value(points):
    x, y = points[..., 0], points[..., 1]
    return torch.tanh((x - 1) ** 2) + 0.5 * y ** 2


def plateau() -> TestFunction:
    r"""A valley with a plateau made by a saturated unit: :math:`f(x, y) = \tanh((x - 1)^2) + \tfrac12 y^2`.

    The only minimum is :math:`(1, 0)` (value 0). Along the valley floor the slope is
    :math:`\partial f/\partial x = 2 (x - 1)\,\mathrm{sech}^2((x - 1)^2)`, which is below
    :math:`6 \cdot 10^{-3}` once :math:`|x - 1| \ge 2` and about :math:`10^{-4}` at
    :math:`|x - 1| = 2.5`: there the function is nearly flat at height 1, far from the minimum,
    like the loss of a network whose tanh unit is saturated. Plain gradient descent crawls
    there; methods that normalise the gradient's scale (RMSProp, Adam) do not.
    """
    return TestFunction("plateau", _plateau_value, minima=((1.0, 0.0),), domain=((-3.0, 3.0), (-1.5, 1.5)),
                        description="tanh((x - 1)^2) + 0.5 y^2")


#: critical points of basins_1d: minima at -2, 0.5, 2.5, maxima (basin boundaries) at -1, 1.5
BASIN_CRITICAL_POINTS = (-2.0, -1.0, 0.5, 1.5, 2.5)
# f(x) = x^6/6 - 3x^5/10 - 23x^4/16 + 17x^3/8 + 47x^2/16 - 15x/4, so f' = (x + 2)(x + 1)(x - 1/2)(x - 3/2)(x - 5/2)
_BASIN_COEFFICIENTS = (-15 / 4, 47 / 16, 17 / 8, -23 / 16, -3 / 10, 1 / 6)  # x^1 ... x^6


def _basins_value(points):
    x = points[..., 0]
    total = torch.zeros_like(x)
    for coefficient in reversed(_BASIN_COEFFICIENTS):  # Horner: ((c6 x + c5) x + ...) x
        total = (total + coefficient) * x
    return total


def basins_1d() -> TestFunction:
    r"""A 1-D non-convex polynomial with three basins of attraction.

    :math:`f(x) = \int_0^x (s + 2)(s + 1)(s - \tfrac12)(s - \tfrac32)(s - \tfrac52)\, ds
    = \tfrac{x^6}{6} - \tfrac{3x^5}{10} - \tfrac{23x^4}{16} + \tfrac{17x^3}{8} + \tfrac{47x^2}{16}
    - \tfrac{15x}{4}`.

    Local minima at :math:`x = -2, \tfrac12, \tfrac52` (values about -0.483, -0.972 and -2.572: the
    last is the global one), separated by local maxima at -1 and 1.5. Gradient descent with a
    small step from a start in :math:`(-\infty, -1)`, :math:`(-1, 1.5)` or :math:`(1.5, \infty)`
    ends in the minimum of that basin.
    """
    minima = tuple((c,) for c in BASIN_CRITICAL_POINTS[0::2])
    maxima = tuple((c,) for c in BASIN_CRITICAL_POINTS[1::2])
    return TestFunction("basins_1d", _basins_value, minima=minima, maxima=maxima, domain=((-2.5, 3.0),),
                        description="f' = (x + 2)(x + 1)(x - 1/2)(x - 3/2)(x - 5/2), f(0) = 0")


FUNCTIONS: dict[str, TestFunction] = {
    "ravine": ravine(), "rosenbrock": rosenbrock(), "saddle": saddle(), "monkey_saddle": monkey_saddle(),
    "plateau": plateau(), "basins_1d": basins_1d(),
}
