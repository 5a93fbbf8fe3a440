r"""Per-layer gradient norms: the figure of the chapters *Backpropagation, derived* and *Vanishing and
exploding gradients*.

It shows measured :math:`\|\delta_j\|_2` (:func:`lecturelib.backprop.layer_gradient_norms`) against the
layer index :math:`j = 1, \dots, n+1` on a log scale and, when given, the lecture's backward bound
:math:`\|\delta_{n+1}\|\prod_{i \ge j} c_i` (:func:`lecturelib.lipschitz.delta_norm_bounds`) dotted in the
same colour (Glorot & Bengio 2010 plot the same per-layer statistics).
"""

from __future__ import annotations

import torch

from .._checks import check_tensor

__all__ = ["draw_gradient_norms", "BOUND_LABEL"]

BOUND_LABEL = "bound $\\prod_{i\\geq j} c_i\\,\\|\\delta_{n+1}\\|$"


def draw_gradient_norms(ax, measured, bounds=None, label: str | None = None, bound_label: str = BOUND_LABEL,
                        **line_style):
    """Plot ``measured`` norms (solid, dots) at layers ``1..len(measured)`` on ``ax`` with a log y-axis,
    and ``bounds`` (dotted, same colour) when given; ``line_style`` goes to the measured line.

    Values are clamped at 1e-300 so that an underflowed gradient stays on the log axis.
    Returns the measured line.
    """
    measured = check_tensor("measured", torch.as_tensor(measured), ndim=1, nonempty=True)
    layers = range(1, len(measured) + 1)
    style = {"marker": "o", "markersize": 3} | line_style
    line, = ax.semilogy(layers, measured.detach().cpu().double().clamp_min(1e-300), label=label, **style)
    if bounds is not None:
        bounds = check_tensor("bounds", torch.as_tensor(bounds), ndim=1)
        if len(bounds) != len(measured):
            raise ValueError(f"bounds must have one entry per layer ({len(measured)}), got {len(bounds)}")
        ax.semilogy(layers, bounds.detach().cpu().double().clamp_min(1e-300), linestyle=":",
                    color=line.get_color(), label=bound_label)
    return line
