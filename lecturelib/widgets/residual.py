"""Widget of the residual-networks chapter: the fits and loss curves of the depth experiment."""

from __future__ import annotations

from .. import plotting
from ..data import DataSplit
from ..plotting.fits import ARCHITECTURE_COLORS, draw_fit
from . import interactive_figure

__all__ = ["depth_explorer"]


def depth_explorer(fits, data: DataSplit):
    """Depth slider and plain/residual toggle over the evaluated depth experiment ``fits``
    (:func:`lecturelib.experiments.residual.depth_fits`): left, the fits of every seed of that
    configuration; right, their training loss per epoch, with the other architecture of the same
    depth drawn faintly for comparison. Nothing is computed on interaction."""
    import ipywidgets as widgets

    if not all(hasattr(fits, name) for name in ("grid", "outputs", "epochs", "train_loss", "depths", "labels")):
        raise TypeError(f"fits must be the result of experiments.residual.depth_fits, got {type(fits).__name__}")
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a DataSplit, got {type(data).__name__}")
    depths = sorted({d for d, label in zip(fits.depths, fits.labels) if label in ARCHITECTURE_COLORS})

    def members(depth, architecture):
        return [m for m, (d, label) in enumerate(zip(fits.depths, fits.labels)) if (d, label) == (depth, architecture)]

    def draw(depth, architecture):
        other_architecture = "plain" if architecture == "residual" else "residual"
        chosen, other = members(depth, architecture), members(depth, other_architecture)
        color, other_color = ARCHITECTURE_COLORS[architecture], ARCHITECTURE_COLORS[other_architecture]
        _, (left, right) = plotting.subplots(1, 2, width=10, height=3.6)
        draw_fit(left, fits.grid, fits.outputs[chosen], data, color,
                 f"{architecture}, depth {depth}: fits of {len(chosen)} seeds")
        left.set_ylim(-2.2, 2.2)
        for m in other:
            right.plot(fits.epochs, fits.train_loss[:, m], color=other_color, alpha=0.3, linewidth=1)
        for m in chosen:
            right.plot(fits.epochs, fits.train_loss[:, m], color=color, linewidth=1.4)
        right.set_yscale("log")
        final = float(fits.train_loss[-1, chosen].median())
        plotting.label(right, "epoch", "training loss (MSE)", f"median final loss {final:.3g}")
        right.plot([], [], color=other_color, alpha=0.5, label=other_architecture)
        right.plot([], [], color=color, label=architecture)
        right.legend()

    controls = {
        "depth": widgets.SelectionSlider(options=depths, value=depths[-1], description="depth"),
        "architecture": widgets.ToggleButtons(options=["plain", "residual"], value="plain"),
    }
    return interactive_figure(draw, controls, title="Depth experiment: choose a depth and an architecture")
