"""Widgets and figures for the residual-networks chapter: fits and loss curves of the depth experiment."""

from __future__ import annotations

import torch

from .. import plotting
from ..data import DataSplit
from ..ensemble import EnsembleHistory, MLPEnsemble
from . import interactive_figure

__all__ = ["draw_fit", "depth_explorer"]

PLAIN_COLOR, RESIDUAL_COLOR = plotting.PALETTE["vermillion"], plotting.PALETTE["blue"]


def draw_fit(ax, grid: torch.Tensor, outputs: torch.Tensor, data: DataSplit, color: str, title: str | None = None):
    """Draw the training points and one curve per model: ``grid`` ``(G, 1)``, ``outputs`` ``(S, G, 1)``."""
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 3 or outputs.shape[1] != len(grid):
        raise ValueError(f"outputs must have shape (models, {len(grid)}, 1), got "
                         f"{tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__}")
    ax.scatter(data.X_train[:, 0], data.y_train[:, 0], s=14, color="black", zorder=3, label="training data")
    for curve in outputs:
        ax.plot(grid[:, 0], curve[:, 0], color=color, alpha=0.8, linewidth=1.3)
    plotting.label(ax, "input x", "output m(x)", title)


def depth_explorer(ensemble: MLPEnsemble, history: EnsembleHistory, data: DataSplit):
    """Depth slider and plain/residual toggle over a trained ensemble of the depth experiment:
    left, the fits of every seed of that configuration; right, their training loss per epoch,
    with the other architecture of the same depth drawn faintly for comparison."""
    import ipywidgets as widgets

    if not isinstance(ensemble, MLPEnsemble) or not isinstance(history, EnsembleHistory):
        raise TypeError("depth_explorer needs an MLPEnsemble and the EnsembleHistory of its training")
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a DataSplit, got {type(data).__name__}")
    grid = torch.linspace(-1.6, 1.6, 200).unsqueeze(1)  # (200, 1)
    outputs = ensemble.forward(grid)  # (M, 200, 1)
    depths = sorted({len(ensemble.widths(m)) - 1 for m in range(ensemble.n_models)})

    def members(depth, residual):
        return [m for m in range(ensemble.n_models)
                if len(ensemble.widths(m)) - 1 == depth and ensemble.residual[m] == residual]

    def draw(depth, architecture):
        residual = architecture == "residual"
        chosen, other = members(depth, residual), members(depth, not residual)
        color, other_color = (RESIDUAL_COLOR, PLAIN_COLOR) if residual else (PLAIN_COLOR, RESIDUAL_COLOR)
        fig, (left, right) = plotting.subplots(1, 2, width=10, height=3.6)
        draw_fit(left, grid, outputs[chosen], data, color, f"{architecture}, depth {depth}: fits of {len(chosen)} seeds")
        left.set_ylim(-2.2, 2.2)
        epochs = torch.arange(history.train_loss.shape[0])
        for m in other:
            right.plot(epochs, history.train_loss[:, m], color=other_color, alpha=0.3, linewidth=1)
        for m in chosen:
            right.plot(epochs, history.train_loss[:, m], color=color, linewidth=1.4)
        right.set_yscale("log")
        final = float(history.train_loss[-1, chosen].median())
        plotting.label(right, "epoch", "training loss (MSE)", f"median final loss {final:.3g}")
        right.plot([], [], color=other_color, alpha=0.5, label="plain" if residual else "residual")
        right.plot([], [], color=color, label=architecture)
        right.legend()

    controls = {
        "depth": widgets.SelectionSlider(options=depths, value=depths[-1], description="depth"),
        "architecture": widgets.ToggleButtons(options=["plain", "residual"], value="plain"),
    }
    return interactive_figure(draw, controls, title="Depth experiment: choose a depth and an architecture")
