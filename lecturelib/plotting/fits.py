r"""Figures of a one-dimensional regression fit: the training points, the fitted functions
:math:`x \mapsto m(x;\theta)` evaluated on a grid, and, for piecewise-affine networks, their kinks.

:func:`draw_fit` draws what it is handed; the networks are evaluated (and their kinks located
with :func:`lecturelib.piecewise.locate_kinks`) by the chapter's experiment.
"""

from __future__ import annotations

import torch

from .._checks import check_tensor
from .style import PALETTE, label

__all__ = ["draw_fit", "ARCHITECTURE_COLORS"]

#: Colours of the residual chapter's two architectures, in every figure of it.
ARCHITECTURE_COLORS = {"plain": PALETTE["vermillion"], "residual": PALETTE["blue"]}


def draw_fit(ax, grid: torch.Tensor, outputs: torch.Tensor, data, color: str = PALETTE["blue"],
             title: str | None = None, kinks: torch.Tensor | None = None, legend: bool = False) -> None:
    """Draw ``data``'s training points and one curve per network on ``ax``.

    Args:
        grid: the inputs, ``(G, 1)``.
        outputs: the networks' outputs on ``grid``, ``(S, G, 1)`` for ``S`` networks or ``(G, 1)`` for one.
        data: a :class:`~lecturelib.data.DataSplit` with one input and one output.
        kinks: x positions of kinks to mark as vertical lines (``None``: none).
        legend: add a legend (upper left).
    """
    check_tensor("grid", grid, shape=(None, 1))
    check_tensor("outputs", outputs, ndim=(2, 3))
    curves = outputs.detach().cpu()
    curves = curves[None] if curves.dim() == 2 else curves
    if curves.shape[1:] != (len(grid), 1):
        raise ValueError(f"outputs must have shape (networks, {len(grid)}, 1) or ({len(grid)}, 1), "
                         f"got {tuple(outputs.shape)}")
    x = grid.detach().cpu()[:, 0]
    for k, position in enumerate([] if kinks is None else kinks.tolist()):
        ax.axvline(position, color=PALETTE["sky"], linewidth=0.9, alpha=0.8, label="kink" if k == 0 else None)
    several = len(curves) > 1
    for k, curve in enumerate(curves):
        ax.plot(x, curve[:, 0], color=color, alpha=0.8 if several else 1.0, linewidth=1.3 if several else 1.6,
                label=("networks m(x; θ)" if several else "network m(x; θ)") if k == 0 else None)
    ax.scatter(data.X_train[:, 0].cpu(), data.y_train[:, 0].cpu(), s=14, color="black", zorder=3,
               label="training data")
    label(ax, "input x", "output m(x; θ)", title)
    if legend:
        ax.legend(loc="upper left")
