r"""Figures of sublevel sets :math:`\Omega_L(\lambda) = \{\theta : L(\theta) \le \lambda\}` and their components.

:func:`draw_sublevel_set` colours each connected component of a 2-D sublevel set (a labelling it is
handed, e.g. from :func:`lecturelib.topology.sublevel_labels`) over the loss's contours;
:func:`draw_component_counts` draws :math:`N_\lambda` against the level :math:`\lambda`. The topology
chapter's notebooks and its widget (:mod:`lecturelib.widgets.topology`) draw with them; nothing here
computes what it shows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba

from .._checks import check_int, check_real
from .style import COLORS, label

__all__ = ["component_colors", "draw_sublevel_set", "draw_component_counts"]


def component_colors(labels: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """An RGBA image ``labels.shape + (4,)``: label 0 (outside the set) transparent, label ``k >= 1``
    the palette's ``(k - 1)``-th colour, so component 1 is always blue, component 2 orange, ..."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D integer array, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0 (0 = outside the set), got minimum {labels.min()}")
    check_real("alpha", alpha, minimum=0.0, maximum=1.0)
    palette = np.array([to_rgba(c, alpha) for c in COLORS])
    image = np.zeros(labels.shape + (4,))
    inside = labels > 0
    image[inside] = palette[(labels[inside] - 1) % len(COLORS)]
    return image


def draw_sublevel_set(ax, values, labels, count: int, level: float, axes, names=("$\\theta_1$", "$\\theta_2$"),
                      title: str | None = None, contours: int = 12):
    r"""Draw the components of :math:`\{L \le \lambda\}` on ``ax``, coloured by ``labels``, over ``contours``
    grey contour lines of ``values`` and the black level line :math:`L = \lambda`.

    ``values`` and ``labels`` are ``(n_1, n_2)`` arrays indexed as ``values[i, j] = L(axes[0][i], axes[1][j])``
    (``numpy.meshgrid(..., indexing="ij")``); ``count`` is the number of components, shown in the title
    unless ``title`` is given.
    """
    values = np.asarray(values, dtype=float)
    labels = np.asarray(labels)
    if values.ndim != 2 or labels.shape != values.shape:
        raise ValueError(f"values and labels must be 2-D arrays of one shape, got {values.shape} and {labels.shape}")
    check_int("count", count, minimum=0)
    check_real("level", level)
    check_int("contours", contours, minimum=0)
    if len(axes) != 2 or tuple(len(a) for a in axes) != values.shape:
        raise ValueError(f"axes must be two 1-D arrays of lengths {values.shape}, "
                         f"got lengths {tuple(len(a) for a in axes)}")
    x, y = (np.asarray(a, dtype=float) for a in axes)
    extent = (x[0], x[-1], y[0], y[-1])
    if contours:
        finite = values[np.isfinite(values)]
        ax.contour(x, y, values.T, levels=np.quantile(finite, np.linspace(0.02, 0.9, contours)),
                   colors="0.6", linewidths=0.5)
    ax.imshow(component_colors(labels).transpose(1, 0, 2), origin="lower", extent=extent, aspect="auto",
              interpolation="nearest")
    if values.min() < level < values.max():
        ax.contour(x, y, values.T, levels=[level], colors="black", linewidths=1.0)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    label(ax, names[0], names[1], title or rf"$N_\lambda$ = {count} at $\lambda$ = {level:.3g}")
    return ax


def draw_component_counts(ax, levels, counts, critical: dict | None = None, title: str | None = None):
    r"""Draw :math:`N_\lambda` (``counts``) against :math:`\lambda` (``levels``) as a step curve, with a dashed
    vertical line at each ``critical`` value (name -> level), e.g. the local minima and the saddle."""
    levels = np.asarray(levels, dtype=float)
    counts = np.asarray(counts)
    if levels.ndim != 1 or counts.shape != levels.shape or levels.size == 0:
        raise ValueError(f"levels and counts must be 1-D arrays of one non-zero length, "
                         f"got shapes {levels.shape} and {counts.shape}")
    ax.step(levels, counts, where="post", color=COLORS[0])
    for i, (name, value) in enumerate((critical or {}).items()):
        ax.axvline(check_real(f"critical[{name!r}]", value), color=COLORS[(i + 1) % len(COLORS)], linestyle="--",
                   linewidth=1.0, label=name)
    if critical:
        ax.legend()
    ax.set_yticks(range(0, int(counts.max()) + 2))
    label(ax, r"level $\lambda$ (loss)", r"components $N_\lambda$", title)
    return ax
