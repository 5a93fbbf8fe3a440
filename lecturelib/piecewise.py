r"""What a fully connected network computes, read off its weights.

The lectures' model (Giselsson, *Deep Learning*, "Model properties") is

.. math::

    m(x;\theta) = W_n\sigma_{n-1}(W_{n-1}\cdots\sigma_1(W_1x + b_1)\cdots + b_{n-1}) + b_n .

Three facts about it are made exact and checkable here:

* With (leaky) ReLU, PReLU or maxout activations, :math:`x \mapsto m(x;\theta)` is continuous and
  piecewise affine. For a scalar input its kinks are where some hidden unit switches: a
  pre-activation changes sign (ReLU family) or the arg-max of a maxout unit changes.
  :func:`affine_pieces` finds every piece exactly, layer by layer; :func:`locate_kinks` returns the
  kinks; :func:`max_pieces_1d` is the counting bound behind Montúfar et al. (2014).
* With identity activations the network is one affine map :math:`Wx + b`:
  :func:`collapse_identity_network` multiplies the weights out.
* A ReLU unit whose pre-activation is negative on every sample passes no gradient and never
  recovers (Maas et al. 2013; Lu et al. 2020): :func:`dead_unit_fraction` measures how many.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ._checks import check_finite_tensor, check_int, check_nonnegative, check_real, check_tensor, check_type
from .device import model_device
from .models import MLP

__all__ = ["PIECEWISE_AFFINE", "PiecewiseAffine1D", "affine_pieces", "locate_kinks", "max_pieces_1d",
           "collapse_identity_network", "dead_units", "dead_unit_fraction"]

#: Activations for which the network is piecewise affine in its input.
PIECEWISE_AFFINE = ("identity", "relu", "leaky_relu", "prelu", "maxout")


def _check_mlp(model, name="model"):
    check_type(name, model, MLP, "a lecturelib.models.MLP")
    if model.norm is not None:
        raise ValueError(f"{name} has norm={model.norm!r}; only networks without normalisation layers "
                         "are supported (norm=None)")


def _check_interval(lo, hi):
    check_real("lo", lo)
    check_real("hi", hi)
    if not lo < hi:
        raise ValueError(f"the interval needs lo < hi, got lo={lo!r}, hi={hi!r}")


@dataclass(frozen=True)
class PiecewiseAffine1D:
    r"""A continuous piecewise-affine function of one variable on ``[breakpoints[0], breakpoints[-1]]``.

    On piece :math:`k`, :math:`t_k \le x \le t_{k+1}`, it equals ``slopes[k] * x + intercepts[k]``.
    Adjacent pieces have different slopes, so the interior breakpoints are exactly its kinks.

    Attributes:
        breakpoints: ``(P + 1,)`` float64, increasing, the interval's ends included.
        slopes: ``(P, n_out)`` float64.
        intercepts: ``(P, n_out)`` float64.
    """

    breakpoints: torch.Tensor
    slopes: torch.Tensor
    intercepts: torch.Tensor

    @property
    def kinks(self) -> torch.Tensor:
        """Interior breakpoints, ``(P - 1,)``: where the slope changes."""
        return self.breakpoints[1:-1]

    @property
    def n_pieces(self) -> int:
        return len(self.slopes)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate at ``x`` of shape ``(N,)`` or ``(N, 1)``; returns ``(N, n_out)`` float64."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        x = x.reshape(-1).double().to(self.breakpoints.device)  # (N,)
        piece = torch.searchsorted(self.breakpoints[1:-1].contiguous(), x, right=True)  # (N,)
        return self.slopes[piece] * x[:, None] + self.intercepts[piece]


def _switching_functions(model: MLP, layer: int, states: dict) -> torch.Tensor:
    """The functions of x whose sign changes mark where hidden layer ``layer`` switches.

    ReLU family: the pre-activations ``v`` themselves, ``(N, h)``. Maxout with ``p`` pieces: all
    pairwise differences ``v_a - v_b`` of each unit's pieces, ``(N, h * p(p-1)/2)``.
    """
    v = states["pre"][layer]  # (N, pieces * h)
    pieces = model.activations[layer].pieces if model.activation == "maxout" else 1
    if pieces == 1:
        return v
    grouped = v.unflatten(-1, (v.shape[-1] // pieces, pieces))  # (N, h, pieces)
    a, b = torch.triu_indices(pieces, pieces, offset=1)
    return (grouped[..., a] - grouped[..., b]).flatten(1)


def _is_switch(model: MLP, layer: int, states: dict, column: torch.Tensor) -> torch.Tensor:
    """For maxout: whether the difference ``column`` at the candidate points involves the top piece."""
    if model.activation != "maxout":
        return torch.ones_like(column, dtype=torch.bool)
    v = states["pre"][layer]
    pieces = model.activations[layer].pieces
    grouped = v.unflatten(-1, (v.shape[-1] // pieces, pieces))  # (M, h, pieces)
    a, b = torch.triu_indices(pieces, pieces, offset=1)
    n_pairs = len(a)
    unit, pair = column // n_pairs, column % n_pairs
    rows = torch.arange(len(v))
    top = grouped[rows, unit].amax(dim=-1)  # (M,)
    scale = grouped[rows, unit].abs().amax(dim=-1).clamp_min(1.0)
    return (top - grouped[rows, unit, a[pair]]).abs() <= 1e-9 * scale


@torch.no_grad()
def affine_pieces(model: MLP, lo: float, hi: float, slope_tol: float = 1e-9) -> PiecewiseAffine1D:
    r"""The exact piecewise-affine form of a scalar-input network on ``[lo, hi]``.

    Works layer by layer in float64. Suppose layers :math:`1..j-1` are affine on every current
    interval :math:`[t_k, t_{k+1}]`. Then each switching function of layer :math:`j` (a
    pre-activation :math:`v(x)`, or a difference of two maxout pieces) is affine there too,
    :math:`v(x) = a x + c`, so evaluating it at two interior points gives :math:`a, c` exactly,
    and its zero :math:`-c/a`, if it lies inside the interval, is a new breakpoint. After the last
    hidden layer the output is affine on every interval; adjacent intervals whose slopes agree
    (relative difference below ``slope_tol``) are merged, so the interior breakpoints returned are
    precisely the kinks. Montúfar et al. (2014) count these linear regions.

    Args:
        model: a :class:`~lecturelib.models.MLP` with ``widths[0] == 1`` and an activation in
            :data:`PIECEWISE_AFFINE` (residual connections and dropout are fine; the network is
            evaluated in eval mode on a float64 copy, on the model's device).
        lo, hi: the interval, ``lo < hi``.
        slope_tol: relative slope difference below which two neighbouring pieces count as one.
    """
    _check_mlp(model)
    _check_interval(lo, hi)
    if model.widths[0] != 1:
        raise ValueError(f"model must take a scalar input (widths[0] == 1), got widths={model.widths}")
    if model.activation not in PIECEWISE_AFFINE:
        raise ValueError(f"activation {model.activation!r} is not piecewise affine; kinks are defined for "
                         f"{', '.join(PIECEWISE_AFFINE)}")
    check_nonnegative("slope_tol", slope_tol)
    net = copy.deepcopy(model).double().eval()
    where = model_device(net)  # analysis runs where the model is
    breaks = torch.tensor([float(lo), float(hi)], dtype=torch.float64, device=where)  # (P + 1,)
    merge_gap = 1e-12 * (hi - lo)
    n_hidden = len(net.widths) - 2
    for layer in range(n_hidden):
        left, right = breaks[:-1], breaks[1:]  # (P,)
        x1, x2 = left + (right - left) / 3, left + 2 * (right - left) / 3
        s1 = _switching_functions(net, layer, net.forward_with_states(x1[:, None]))  # (P, S)
        s2 = _switching_functions(net, layer, net.forward_with_states(x2[:, None]))  # (P, S)
        slope = (s2 - s1) / (x2 - x1)[:, None]  # (P, S)
        root = x1[:, None] - s1 / torch.where(slope == 0, torch.ones_like(slope), slope)
        inside = (slope != 0) & (root > left[:, None] + merge_gap) & (root < right[:, None] - merge_gap)
        _, column = inside.nonzero(as_tuple=True)
        candidates = root[inside]  # (M,)
        if len(candidates) and net.activation == "maxout":
            keep = _is_switch(net, layer, net.forward_with_states(candidates[:, None]), column)
            candidates = candidates[keep]
        breaks = _merge_close(torch.cat([breaks, candidates]), merge_gap)
    left, right = breaks[:-1], breaks[1:]
    x1, x2 = left + (right - left) / 3, left + 2 * (right - left) / 3
    y1, y2 = net(x1[:, None]), net(x2[:, None])  # (P, n_out)
    slopes = (y2 - y1) / (x2 - x1)[:, None]
    intercepts = y1 - slopes * x1[:, None]
    keep = [0]  # indices of pieces that start a new slope
    for k in range(1, len(slopes)):
        scale = max(1.0, float(slopes[k].abs().max()), float(slopes[keep[-1]].abs().max()))
        if float((slopes[k] - slopes[keep[-1]]).abs().max()) > slope_tol * scale:
            keep.append(k)
    keep_t = torch.tensor(keep, device=where)
    new_breaks = torch.cat([breaks[keep_t], breaks[-1:]])
    return PiecewiseAffine1D(new_breaks, slopes[keep_t], intercepts[keep_t])


def _merge_close(points: torch.Tensor, gap: float) -> torch.Tensor:
    """Sorted unique points, dropping any that lie within ``gap`` of the previous one (ends kept)."""
    points = torch.sort(points).values
    kept = [points[0]]
    for p in points[1:-1]:
        if p - kept[-1] > gap and points[-1] - p > gap:
            kept.append(p)
    kept.append(points[-1])
    return torch.stack(kept)


def locate_kinks(model: MLP, lo: float, hi: float) -> torch.Tensor:
    """The kinks of a scalar-input piecewise-affine network on ``(lo, hi)``, float64 ``(K,)``.

    A kink is a point where the slope of :math:`x \\mapsto m(x;\\theta)` changes. It can only
    occur where a hidden unit switches (Montúfar et al. 2014); see :func:`affine_pieces`.
    """
    return affine_pieces(model, lo, hi).kinks


def max_pieces_1d(hidden_widths, pieces: int = 1) -> int:
    r"""Upper bound on the number of affine pieces of a scalar-input network on the real line.

    A hidden layer of :math:`h` units acting on a function with :math:`P` affine pieces gives each
    unit a piecewise-affine input; a ReLU-type unit switches at most once per piece, a maxout
    unit with :math:`p` pieces at most :math:`p-1` times. So the count grows at most to
    :math:`P(1 + h(p-1))` per layer (:math:`p = 1` stands for the ReLU family and counts one
    switch per unit), giving :math:`\prod_j (1 + h_j\max(1, p-1))`. For one layer this is
    :math:`h_1 + 1`; with depth the bound grows exponentially (Montúfar et al. 2014).
    """
    if not isinstance(hidden_widths, (list, tuple)) or not hidden_widths:
        raise ValueError(f"hidden_widths must be a non-empty list of hidden layer sizes, got {hidden_widths!r}")
    for i, h in enumerate(hidden_widths):
        check_int(f"hidden_widths[{i}]", h, minimum=1)
    check_int("pieces", pieces, minimum=1)
    switches = max(1, pieces - 1)
    bound = 1
    for h in hidden_widths:
        bound *= 1 + h * switches
    return bound


@torch.no_grad()
def collapse_identity_network(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Multiply out a network with identity activations into one affine map, float64.

    With :math:`\sigma_j = \mathrm{Id}` (Giselsson's lecture, "Identity activation"),

    .. math::

        m(x;\theta) = \underbrace{W_n W_{n-1}\cdots W_1}_{W} x
        + \underbrace{b_n + \textstyle\sum_{l=1}^{n-1} W_n\cdots W_{l+1} b_l}_{b}.

    A residual layer :math:`z + W_j z + b_j` contributes :math:`I + W_j` instead of :math:`W_j`.

    Returns:
        ``(W, b)`` with ``W`` of shape ``(n_out, n_in)`` and ``b`` of shape ``(n_out,)``.
    """
    _check_mlp(model)
    if model.activation != "identity":
        raise ValueError(f"model must use activation='identity' to be one affine map, got {model.activation!r}")
    n_in, where = model.widths[0], model_device(model)
    W = torch.eye(n_in, dtype=torch.float64, device=where)  # (n_in, n_in): the map so far, x -> W x + b
    b = torch.zeros(n_in, dtype=torch.float64, device=where)
    for j, linear in enumerate(model.layers):
        A = linear.weight.detach().double()  # (out, in)
        c = linear.bias.detach().double() if linear.bias is not None else torch.zeros_like(A[:, 0])
        if j < len(model.layers) - 1 and model.residual_mask[j]:
            A = A + torch.eye(len(A), dtype=torch.float64, device=where)
        W, b = A @ W, A @ b + c
    return W, b


def dead_units(model: MLP, X: torch.Tensor) -> list[torch.Tensor]:
    r"""Which hidden units pass no gradient for any sample in ``X``: one ``(h_j,)`` bool tensor per layer.

    Unit :math:`i` of hidden layer :math:`j` is dead on the data set when
    :math:`\partial z_{j+1,i} / \partial v_{j,i} = \sigma_j'(v_{j,i}(x)) = 0` for every sample
    :math:`x`. Its incoming weights then receive zero gradient, since
    :math:`\partial L/\partial W_j = (\delta_{j+1}\odot\sigma_j'(v_j)) z_j^T` (the lecture's
    backpropagation formula), so gradient descent cannot move them (Maas et al. 2013; Lu et al.
    2020). For ReLU this means :math:`v_{j,i}(x) \le 0` on all of ``X``; LeakyReLU, ELU, PReLU
    (with a non-zero slope), tanh and maxout units are never dead in this sense. The derivative is
    taken by autograd through the model's own activation modules, in eval mode.
    """
    _check_mlp(model)
    check_tensor("X", X, min_ndim=1)
    if len(X) == 0:
        raise ValueError("X must hold at least one sample, got an empty tensor")
    check_finite_tensor("X", X)
    if len(model.widths) < 3:
        raise ValueError(f"model has no hidden layer (widths={model.widths}), so no unit can be dead")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            pre = model.forward_with_states(X.to(model_device(model)))["pre"]
        dead = []
        for v, act in zip(pre, model.activations):
            v = v.detach().clone().requires_grad_(True)  # (N, pieces * h)
            out = act(v)  # (N, h)
            (grad,) = torch.autograd.grad(out.sum(), v)
            per_unit = grad.detach().abs().reshape(len(v), out.shape[1], -1).sum(dim=(0, 2))  # (h,)
            dead.append((per_unit == 0).cpu())
    finally:
        model.train(was_training)
    return dead


def dead_unit_fraction(model: MLP, X: torch.Tensor, per_layer: bool = False):
    r"""Fraction of hidden units that are dead on ``X`` (see :func:`dead_units`).

    Returns :math:`\frac{1}{\sum_j h_j}\sum_j \#\{i : \sigma_j'(v_{j,i}(x)) = 0\ \forall x \in X\}`,
    or, with ``per_layer=True``, a list with one such fraction per hidden layer.
    """
    check_type("per_layer", per_layer, bool, "True or False")
    dead = dead_units(model, X)
    if per_layer:
        return [int(d.sum()) / len(d) for d in dead]
    return sum(int(d.sum()) for d in dead) / sum(len(d) for d in dead)
