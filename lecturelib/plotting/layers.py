r"""Per-layer figures of a network's activations: what Glorot & Bengio (2010) plot.

* :func:`plot_layer_histograms`: one histogram per hidden layer of the activations :math:`h_l` or
  the back-propagated gradients :math:`\partial L/\partial s_l` (their figures 3, 6 and 7), from
  the records of :func:`lecturelib.init.activation_statistics`;
* :func:`plot_layer_trajectories`: each hidden layer's activation mean :math:`\pm` one standard
  deviation against the training step (their figure 2), from what a training run recorded.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_choice, check_int
from .style import SMALLEST_TEXT, color_for, label

__all__ = ["plot_layer_histograms", "plot_layer_trajectories"]


def plot_layer_histograms(axes, records, values: str = "activations", bins: int = 40, value_range=None,
                          color=None, show_stats: bool = True):
    """Draw layer ``l``'s histogram of ``records[l].activations`` (or ``.gradients``) on ``axes[l]``.

    ``records`` come from :func:`lecturelib.init.activation_statistics` with ``keep_values=True``.
    Histograms are normalised (density) over the values inside ``value_range``, a common
    x-range, by default (-1, 1) for activations and +-4 std of the widest layer for gradients;
    values outside it are not drawn. Returns the axes, flattened.
    """
    check_choice("values", values, ("activations", "gradients"))
    check_int("bins", bins, minimum=1)
    axes = list(np.ravel(axes))
    if len(axes) < len(records):
        raise ValueError(f"need one axis per layer: got {len(axes)} axes for {len(records)} layers")
    if any(getattr(r, values) is None for r in records):
        raise ValueError("records hold no values; call activation_statistics(..., keep_values=True)")
    if value_range is None:
        if values == "activations":
            value_range = (-1.0, 1.0)
        else:
            spread = 4 * max(r.grad_std for r in records) or 1.0
            value_range = (-spread, spread)
    for ax, record in zip(axes, records):
        data = getattr(record, values).flatten().float().numpy()
        ax.hist(data, bins=bins, range=value_range, density=True, color=color or color_for(0), alpha=0.85)
        ax.set_yticks([])
        ax.grid(False)
        if show_stats:
            spread = record.std if values == "activations" else record.grad_std
            ax.set_title(f"layer {record.layer}\nstd {spread:.2g}", fontsize=SMALLEST_TEXT, fontweight="normal")
    return axes


def plot_layer_trajectories(ax, steps, means, stds, title: str = "",
                            xlabel: str = "training step", ylabel: str = "activation: mean +- std"):
    """Draw each hidden layer's activation mean (a line) and mean +- std (a band) against ``steps``.

    ``means`` and ``stds`` hold one row per recorded step and one column per hidden layer, input
    side first (what :class:`lecturelib.experiments.initialisation.LayerStatisticsProbe` records).
    """
    means, stds = torch.as_tensor(means, dtype=torch.float64), torch.as_tensor(stds, dtype=torch.float64)
    if means.dim() != 2 or means.shape != stds.shape or len(means) != len(steps):
        raise ValueError(f"means and stds must both have shape (len(steps), layers) = ({len(steps)}, layers), "
                         f"got {tuple(means.shape)} and {tuple(stds.shape)}")
    for layer in range(means.shape[1]):
        mean, std = means[:, layer], stds[:, layer]
        color = color_for(layer)
        ax.plot(steps, mean, color=color, label=f"layer {layer + 1}")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15)
    ax.legend(loc="best")
    label(ax, xlabel, ylabel, title)
    return ax
