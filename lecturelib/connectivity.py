r"""Mode connectivity: low-loss curves between two independently trained networks.

Train one architecture twice, from different seeds, and call the two weight vectors
:math:`w_1` and :math:`w_2`. On the straight segment :math:`(1-t)\,w_1 + t\,w_2` the loss rises
far above its value at either end, yet Garipov et al. (2018) and Draxler et al. (2018) found
simple curves between the same two points along which train loss and test error stay nearly
constant. Garipov et al. parameterise a curve with fixed endpoints and one trainable *bend*
:math:`\theta` (a point with as many entries as the network has parameters):

* quadratic Bezier curve :math:`\phi_\theta(t) = (1-t)^2 w_1 + 2t(1-t)\,\theta + t^2 w_2`;
* polygonal chain through :math:`\theta`:
  :math:`\phi_\theta(t) = 2\big(t\,\theta + (\tfrac12 - t)\,w_1\big)` for :math:`t \le \tfrac12`
  and :math:`2\big((t - \tfrac12)\,w_2 + (1-t)\,\theta\big)` for :math:`t > \tfrac12`,

and minimise :math:`\ell(\theta) = \mathbb{E}_{t\sim U(0,1)}\, L(\phi_\theta(t))` by SGD, drawing
one :math:`t` per minibatch. Every curve here, the straight line included, is an affine
combination :math:`\phi(t) = c_1(t)\,w_1 + c_\theta(t)\,\theta + c_2(t)\,w_2` with
:math:`c_1 + c_\theta + c_2 = 1`, so all its points lie in the plane through :math:`w_1, w_2,
\theta`; :func:`plane_basis` and :func:`plane_coordinates` give that plane's coordinates.

A "parameter dict" below is a point of :mod:`lecturelib.params`, ``{name: tensor}`` keyed like
``model.named_parameters()``, the same convention as :mod:`lecturelib.landscape`'s directions.
Since :math:`\phi(t) = w_1 + c_\theta(t)\,(\theta - w_1) + c_2(t)\,(w_2 - w_1)`, the losses along a
curve are evaluated by the landscape engine (:func:`lecturelib.landscape.engine.evaluate_affine`),
where the curve is unless ``device=`` is given. Models with batch normalisation are refused:
Garipov et al. must recompute the BN running statistics at every :math:`t` before evaluating it;
BN-free networks need no such step. The chapter's trained endpoints and curves are
:mod:`lecturelib.experiments.connectivity`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from . import params
from ._checks import check_choice, check_module, check_nonnegative, check_seed
from .landscape.engine import evaluate_affine

__all__ = [
    "CURVE_KINDS", "curve_coefficients", "Curve", "PathProfile", "path_profile", "barrier_height", "path_table",
    "plane_basis", "plane_coordinates", "plane_point", "curve_plane_coordinates",
]

CURVE_KINDS = ("line", "bezier", "polychain")


def _as_t(t) -> torch.Tensor:
    """``t`` as a float64 tensor (scalar or 1-D), checked to lie in [0, 1]."""
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer, torch.Tensor, np.ndarray,
                                                 list, tuple)):
        raise TypeError(f"t must be a number, a sequence or a tensor of numbers in [0, 1], got {type(t).__name__}")
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.dim() > 1:
        raise ValueError(f"t must be a scalar or 1-D, got shape {tuple(t.shape)}")
    if not torch.all(torch.isfinite(t)) or bool(((t < 0) | (t > 1)).any()):
        raise ValueError(f"t must lie in [0, 1] (the curve's parameter), got values from {float(t.min()):.4g} "
                         f"to {float(t.max()):.4g}")
    return t


def curve_coefficients(kind: str, t):
    r"""Weights :math:`(c_1(t), c_\theta(t), c_2(t))` with :math:`\phi(t) = c_1 w_1 + c_\theta\theta + c_2 w_2`.

    * ``"line"``: :math:`(1-t,\ 0,\ t)`, the straight segment;
    * ``"bezier"``: :math:`((1-t)^2,\ 2t(1-t),\ t^2)`, Garipov et al.'s quadratic Bezier curve;
    * ``"polychain"``: :math:`(\max(1-2t, 0),\ 1-|1-2t|,\ \max(2t-1, 0))`, the two segments
      :math:`w_1\to\theta\to w_2` of Garipov et al.'s polygonal chain, reaching
      :math:`\theta` at :math:`t = \frac12`.

    ``t`` is a number or a 1-D sequence in [0, 1]; returns three float64 tensors of ``t``'s shape.
    """
    check_choice("kind", kind, CURVE_KINDS)
    t = _as_t(t)
    if kind == "line":
        return 1 - t, torch.zeros_like(t), t
    if kind == "bezier":
        return (1 - t) ** 2, 2 * t * (1 - t), t ** 2
    return torch.clamp(1 - 2 * t, min=0.0), 1 - torch.abs(1 - 2 * t), torch.clamp(2 * t - 1, min=0.0)


def _check_compatible(start: nn.Module, end: nn.Module):
    for label, model in (("start", start), ("end", end)):
        check_module(label, model)
        if any(isinstance(m, _BatchNorm) for m in model.modules()):
            raise ValueError(f"{label} contains batch normalisation; a curve needs BN statistics recomputed "
                             "at every t (Garipov et al.), which this module does not do: use a BN-free model")
    shapes_start = {n: tuple(p.shape) for n, p in start.named_parameters()}
    shapes_end = {n: tuple(p.shape) for n, p in end.named_parameters()}
    if shapes_start != shapes_end:
        differing = sorted(set(shapes_start.items()) ^ set(shapes_end.items()))[:3]
        raise ValueError(f"start and end must be the same architecture; their parameters differ in {differing}")
    if not shapes_start:
        raise ValueError("start has no parameters: there is nothing to connect")


class Curve(nn.Module):
    r"""A path :math:`\phi(t)`, :math:`t\in[0,1]`, from the weights of ``start`` to those of ``end``.

    The endpoints :math:`w_1, w_2` are fixed (stored as buffers); for ``kind="bezier"`` and
    ``"polychain"`` the bend :math:`\theta` is the only trainable parameter, initialised at
    :math:`(w_1 + w_2)/2` as in Garipov et al. (2018), so the untrained curve is the straight line.
    ``kind="line"`` has no bend.

    ``curve(x)`` in training mode draws :math:`t\sim U(0,1)` from the curve's own generator (one
    draw per call, i.e. per minibatch, Garipov et al.'s training procedure) and returns the
    outputs of the network at :math:`\phi(t)`; in evaluation mode it uses ``t_eval``. So
    :func:`lecturelib.train.fit` trains a curve like any model, and its ``History`` records the
    losses at :math:`\phi(t_{\mathrm{eval}})` (the midpoint by default). ``curve(x, t)`` evaluates
    any given ``t``.

    Args:
        start, end: two trained networks of the same architecture, without batch normalisation.
        kind: ``"bezier"``, ``"polychain"`` or ``"line"``.
        seed: seeds the generator of the training-time :math:`t` draws.
        t_eval: the :math:`t` used in evaluation mode.
    """

    def __init__(self, start: nn.Module, end: nn.Module, kind: str = "bezier", seed: int = 0, t_eval: float = 0.5):
        super().__init__()
        _check_compatible(start, end)
        check_choice("kind", kind, CURVE_KINDS)
        check_seed("seed", seed)
        if _as_t(t_eval).dim() != 0:
            raise ValueError(f"t_eval must be one number in [0, 1], got {t_eval!r}")
        self.t_eval = float(_as_t(t_eval))
        self.kind = kind
        self.names = [name for name, _ in start.named_parameters()]
        self.template = copy.deepcopy(start)  # the architecture; its own weights are never used
        for p in self.template.parameters():
            p.requires_grad_(False)
        start_params, end_params = params.copy_state(start), params.copy_state(end)
        self.bend = nn.ParameterList()
        for i, name in enumerate(self.names):
            self.register_buffer(f"start_{i}", start_params[name])
            self.register_buffer(f"end_{i}", end_params[name].to(start_params[name].dtype))
            if kind != "line":
                self.bend.append(nn.Parameter((start_params[name] + end_params[name]) / 2))
        self.generator = torch.Generator().manual_seed(seed)

    def endpoints(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``(w_1, w_2)`` as parameter dicts (views of the stored buffers)."""
        return ({n: getattr(self, f"start_{i}") for i, n in enumerate(self.names)},
                {n: getattr(self, f"end_{i}") for i, n in enumerate(self.names)})

    def bend_point(self) -> dict[str, torch.Tensor]:
        r"""The bend :math:`\theta` as a parameter dict (the trainable tensors themselves)."""
        if self.kind == "line":
            raise ValueError("a curve of kind 'line' has no bend; use kind='bezier' or 'polychain'")
        return dict(zip(self.names, self.bend))

    def point(self, t) -> dict[str, torch.Tensor]:
        r"""Parameters of the network at :math:`\phi(t)` for one ``t`` in [0, 1]: a parameter dict.

        Differentiable with respect to the bend, :math:`\partial\phi/\partial\theta = c_\theta(t)`.
        """
        t = _as_t(t)
        if t.dim() != 0:
            raise ValueError(f"point() takes one t, got shape {tuple(t.shape)}; loop over t or use path_profile")
        c_start, c_bend, c_end = (float(c) for c in curve_coefficients(self.kind, t))
        start, end = self.endpoints()
        out = {}
        for i, name in enumerate(self.names):
            value = c_start * start[name] + c_end * end[name]  # same shape as the parameter
            if self.kind != "line":
                value = value + c_bend * self.bend[i]
            out[name] = value
        return out

    def sample_t(self) -> float:
        """One draw of :math:`t\\sim U(0,1)` from the curve's generator."""
        return float(torch.rand((), generator=self.generator, dtype=torch.float64))

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        if t is None:
            t = self.sample_t() if self.training else self.t_eval
        return functional_call(self.template, self.point(t), (x,))

    def model_at(self, t) -> nn.Module:
        """A standalone copy of the network with the weights :math:`\\phi(t)` (detached, eval mode)."""
        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, value in self.point(t).items():
                model.get_parameter(name).copy_(value)
        for p in model.parameters():
            p.requires_grad_(True)
        return model.eval()

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, parameters={len(self.names)} tensors, t_eval={self.t_eval}"


@dataclass
class PathProfile:
    """Loss (and accuracy, for classification) of the networks :math:`\\phi(t)` at the points ``t``."""

    kind: str
    t: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None

    @property
    def error(self) -> np.ndarray:
        """Classification error, ``1 - accuracy`` (a fraction)."""
        if self.accuracy is None:
            raise ValueError("this profile has no accuracy (regression targets)")
        return 1.0 - self.accuracy


@torch.no_grad()
def path_profile(curve: Curve, X: torch.Tensor, y: torch.Tensor, t=None, loss_fn=None,
                 batch_size: int | None = None, device=None) -> PathProfile:
    r"""Mean loss :math:`L(\phi(t))` on ``(X, y)`` at every ``t`` (default 61 points on [0, 1]).

    Cross-entropy and accuracy for integer targets, mean squared error for float targets, unless
    ``loss_fn`` is given; Garipov et al. (2018, fig. 2) plot these profiles for their curves. The
    curve is the affine family

    .. math::

        \phi(t) = w_1 + c_\theta(t)\,(\theta - w_1) + c_2(t)\,(w_2 - w_1)

    (:func:`curve_coefficients`, :math:`c_1 + c_\theta + c_2 = 1`), so all its points are evaluated
    at once by :func:`lecturelib.landscape.engine.evaluate_affine`, with its ``batch_size`` and
    ``device`` (default: where the curve is).
    """
    if not isinstance(curve, Curve):
        raise TypeError(f"curve must be a lecturelib.connectivity.Curve, got {type(curve).__name__}")
    ts = _as_t(np.linspace(0, 1, 61) if t is None else t).reshape(-1)
    _, c_bend, c_end = curve_coefficients(curve.kind, ts)
    start, end = curve.endpoints()
    directions = [{name: end[name] - w for name, w in start.items()}]  # w2 - w1
    coefficients = c_end[:, None]  # (T, 1)
    if curve.kind != "line":
        bend = curve.bend_point()
        directions.insert(0, {name: bend[name].detach() - w for name, w in start.items()})  # theta - w1
        coefficients = torch.stack([c_bend, c_end], dim=1)  # (T, 2)
    loss, accuracy = evaluate_affine(curve.template, X, y, directions, coefficients, origin=start, loss_fn=loss_fn,
                                     batch_size=batch_size, device=device)
    return PathProfile(curve.kind, ts.numpy(), loss, accuracy)


def barrier_height(values) -> float:
    r"""Height of the bump along a path: :math:`\max_t v(t) - \max(v(0), v(1))`.

    ``values`` is a :class:`PathProfile` (its loss is used) or a 1-D array sampled from ``t = 0``
    to ``t = 1``. Zero or negative means the path never rises above its higher endpoint; this is
    the "barrier" of Draxler et al. (2018) and Garipov et al. (2018), measured against the worse
    of the two minima.
    """
    if isinstance(values, PathProfile):
        values = values.loss
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"values must be a 1-D array of at least 2 points, got shape {values.shape}")
    return float(values.max() - max(values[0], values[-1]))


def path_table(train: dict[str, PathProfile], test: dict[str, PathProfile]) -> str:
    """A text table like Garipov et al.'s: per path, train loss and test error (%) at its ends, min and max.

    ``train`` and ``test`` map a path's name to its profiles on training and test data.
    """
    if not isinstance(train, dict) or not isinstance(test, dict) or set(train) != set(test) or not train:
        raise ValueError("train and test must be non-empty dicts of name -> PathProfile with the same names")
    header = (f"{'path':<12}{'train loss: ends':>19}{'min':>9}{'max':>9}"
              f"{'test error %: ends':>21}{'min':>8}{'max':>8}")
    rows = [header, "-" * len(header)]
    for name in train:
        loss, error = train[name].loss, 100 * test[name].error
        rows.append(f"{name:<12}{loss[0]:>9.4f} /{loss[-1]:>7.4f}{loss.min():>9.4f}{loss.max():>9.4f}"
                    f"{error[0]:>12.2f} /{error[-1]:>6.2f}{error.min():>8.2f}{error.max():>8.2f}")
    return "\n".join(rows)


# ----------------------------------------------------------------------------------- the plane

def _check_point(point, name):
    if not isinstance(point, dict) or not point or not all(isinstance(v, torch.Tensor) for v in point.values()):
        raise TypeError(f"{name} must be a non-empty parameter dict {{name: tensor}}, got {type(point).__name__}")


def _same_keys(a, b, name_a, name_b):
    if list(a) != list(b):
        raise ValueError(f"{name_a} and {name_b} must have the same names in the same order, got "
                         f"{list(a)[:3]}... and {list(b)[:3]}...")
    for key in a:
        if a[key].shape != b[key].shape:
            raise ValueError(f"{name_a} and {name_b} must have the same shapes; {key!r} is "
                             f"{tuple(a[key].shape)} and {tuple(b[key].shape)}")


def plane_basis(start: dict, end: dict, bend: dict, min_angle: float = 1e-6):
    r"""Orthonormal basis :math:`(u, v)` of the plane through :math:`w_1, w_2, \theta` (Garipov et al. 2018).

    Gram-Schmidt with origin :math:`w_1`: :math:`u = (w_2 - w_1)/\|w_2 - w_1\|`, and
    :math:`v = r/\|r\|` with :math:`r = (\theta - w_1) - \langle\theta - w_1, u\rangle u`, computed in
    float64 over all parameters flattened. Returns two parameter dicts. Raises ``ValueError`` when
    the three points are (numerically) collinear, ``\|r\| \le`` ``min_angle`` :math:`\|\theta - w_1\|`.
    """
    for point, name in ((start, "start"), (end, "end"), (bend, "bend")):
        _check_point(point, name)
    check_nonnegative("min_angle", min_angle)
    _same_keys(start, end, "start", "end")
    _same_keys(start, bend, "start", "bend")
    w1, w2, theta = (params.flatten(point, torch.float64) for point in (start, end, bend))
    span = w2 - w1
    if float(span.norm()) == 0.0:
        raise ValueError("start and end are the same point; there is no plane through them")
    u = span / span.norm()
    offset = theta - w1
    r = offset - (offset @ u) * u
    if float(r.norm()) <= min_angle * max(float(offset.norm()), 1e-300):
        raise ValueError("bend lies on the line through start and end (an untrained curve?); the plane is undefined")
    v = r / r.norm()
    like = {k: t.double() for k, t in start.items()}
    return params.unflatten(u, like), params.unflatten(v, like)


def plane_coordinates(point: dict, origin: dict, basis) -> tuple[float, float]:
    r"""Coordinates :math:`(\langle p - w_1, u\rangle, \langle p - w_1, v\rangle)` of ``point`` in the plane.

    ``origin`` is :math:`w_1`, ``basis`` the pair ``(u, v)`` from :func:`plane_basis`. For a point
    of the plane, :func:`plane_point` of these coordinates gives the point back.
    """
    _check_point(point, "point")
    _check_point(origin, "origin")
    if not isinstance(basis, (tuple, list)) or len(basis) != 2:
        raise TypeError(f"basis must be a pair (u, v) of parameter dicts, got {type(basis).__name__}")
    _same_keys(origin, point, "origin", "point")
    offset = params.flatten(point, torch.float64) - params.flatten(origin, torch.float64)
    u, v = (params.flatten(direction, torch.float64) for direction in basis)
    return float(offset @ u), float(offset @ v)


def plane_point(origin: dict, basis, a: float, b: float) -> dict[str, torch.Tensor]:
    r"""The parameter dict :math:`w_1 + a\,u + b\,v` (in ``origin``'s dtypes)."""
    _check_point(origin, "origin")
    if not isinstance(basis, (tuple, list)) or len(basis) != 2:
        raise TypeError(f"basis must be a pair (u, v) of parameter dicts, got {type(basis).__name__}")
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
    u, v = (params.flatten(direction, torch.float64) for direction in basis)
    vector = params.flatten(origin, torch.float64) + float(a) * u + float(b) * v
    return params.unflatten(vector, origin)


def curve_plane_coordinates(curve: Curve, t=None, basis=None) -> np.ndarray:
    r"""Plane coordinates of :math:`\phi(t)` for every ``t`` (default 101 points): array ``(len(t), 2)``.

    ``basis`` defaults to :func:`plane_basis` of the curve's own endpoints and bend (origin
    :math:`w_1`); pass another curve's basis to draw several paths between the same endpoints in
    one plane. With its own basis the result is exact for every kind, since
    :math:`\phi(t) - w_1 = c_\theta(\theta - w_1) + c_2(w_2 - w_1)` lies in the plane: the ends map
    to :math:`(0, 0)` and :math:`(\|w_2 - w_1\|, 0)`.
    """
    if not isinstance(curve, Curve):
        raise TypeError(f"curve must be a lecturelib.connectivity.Curve, got {type(curve).__name__}")
    ts = _as_t(np.linspace(0, 1, 101) if t is None else t).reshape(-1)
    start, end = curve.endpoints()
    if basis is None:
        if curve.kind == "line":
            raise ValueError("a line spans no plane; pass basis= from a 'bezier' or 'polychain' curve")
        basis = plane_basis(start, end, curve.bend_point())
    with torch.no_grad():
        return np.array([plane_coordinates(curve.point(float(s)), start, basis) for s in ts])
