r"""Figures of the regularisation chapter's explorer: a regularised fit of the 1-D regression beside the
weight norm it ends with. They draw what they are handed
(:func:`lecturelib.experiments.regularisation.ensembles.regulariser_grid`); nothing is trained here.
"""

from __future__ import annotations

import numpy as np

from .style import PALETTE, color_for, label

__all__ = ["draw_regularised_fit", "draw_weight_norms", "REGULARISER_NAMES"]

#: How the figures name each regulariser and its strength.
REGULARISER_NAMES = {"none": ("no regulariser", ""), "l2": ("L2 penalty", "λ"), "l1": ("L1, proximal steps", "λ"),
                     "dropout": ("dropout", "drop probability"), "noise": ("input noise", "noise std")}


def _check_result(name, result):
    keys = {"grid", "prediction", "weight_norm", "train_mse", "test_mse"}
    if not isinstance(result, dict) or not keys <= set(result):
        raise ValueError(f"{name} must be one entry of regulariser_grid(...), a dict with keys {sorted(keys)}")


def draw_regularised_fit(ax, result: dict, data, reference: dict | None = None, title: str | None = None) -> None:
    """The training points, the test points (faint) and the fitted curve of one ``regulariser_grid``
    entry; ``reference`` (another entry, usually the unregularised fit) is drawn dashed."""
    _check_result("result", result)
    ax.scatter(data.X_test[:, 0].cpu(), data.y_test[:, 0].cpu(), s=6, color=PALETTE["sky"], alpha=0.5,
               label="test data")
    ax.scatter(data.X_train[:, 0].cpu(), data.y_train[:, 0].cpu(), s=14, color="black", zorder=3,
               label="training data")
    if reference is not None:
        _check_result("reference", reference)
        ax.plot(reference["grid"], reference["prediction"], color=color_for(1), linestyle="--", linewidth=1.3,
                label="no regulariser")
    ax.plot(result["grid"], result["prediction"], color=color_for(0), label="regularised fit")
    label(ax, "input x", "output m(x; θ)", title)
    ax.legend(loc="upper left")


def draw_weight_norms(ax, strengths, norms, selected: int | None = None, reference: float | None = None,
                      strength_name: str = "strength", title: str | None = None) -> None:
    """Bars of the weight norm ``||θ||`` at each strength (the ``selected`` one highlighted), and the
    unregularised norm ``reference`` as a dashed line."""
    strengths, norms = list(strengths), np.asarray(norms, dtype=float)
    if len(strengths) != len(norms) or not len(norms):
        raise ValueError(f"strengths and norms must be non-empty and of one length, got {len(strengths)} and "
                         f"{len(norms)}")
    colors = [color_for(3) if k == selected else color_for(0) for k in range(len(norms))]
    ax.bar(range(len(norms)), norms, color=colors)
    ax.set_xticks(range(len(norms)), [f"{s:g}" for s in strengths])
    if reference is not None:
        ax.axhline(reference, color=color_for(1), linestyle="--", label="no regulariser")
        ax.legend(loc="upper right")
    label(ax, strength_name, "weight norm ||θ||", title)
