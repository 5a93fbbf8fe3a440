"""Widget of the residual-networks chapter: the fits and loss curves of the depth experiment."""

from __future__ import annotations

import functools

from .. import plotting
from ..data import DataSplit
from ..plotting.fits import ARCHITECTURE_COLORS, draw_fit
from . import interactive_figure, static

__all__ = ["depth_explorer", "depth_twin", "depth_records"]


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


def _data_records(data: DataSplit) -> dict:
    return {"panel": "data", "series": "training data", "x": data.X_train[:, 0], "y": data.y_train[:, 0]}


def depth_records(fits, data: DataSplit, depth, architecture) -> list:
    """What the widget and its twin show for one depth and architecture: every seed's fit, and
    the training losses of both architectures of that depth."""
    members = {label: [m for m, (d, name) in enumerate(zip(fits.depths, fits.labels)) if (d, name) == (depth, label)]
               for label in ARCHITECTURE_COLORS}
    x = static.every(fits.grid[:, 0], 2)
    records = [{"panel": "fit", "series": f"seed {k}", "x": x, "y": static.every(fits.outputs[m][:, 0], 2)}
               for k, m in enumerate(members[architecture])]
    records += [{"panel": "loss", "series": f"{label} {k}", "net": label, "x": fits.epochs,
                 "y": fits.train_loss[:, m]} for label in ARCHITECTURE_COLORS for k, m in enumerate(members[label])]
    final = float(fits.train_loss[-1, members[architecture]].median())
    return records + [_data_records(data), {"panel": "caption", "text": f"{architecture}, depth {depth}: fits of "
                                            f"{len(members[architecture])} seeds, median final loss {final:.3g}"}]


def depth_twin(fits, data: DataSplit):
    """The live figure of :func:`depth_explorer` for the static book (:mod:`lecturelib.widgets.static`)."""
    if not all(hasattr(fits, name) for name in ("grid", "outputs", "epochs", "train_loss", "depths", "labels")):
        raise TypeError(f"fits must be the result of experiments.residual.depth_fits, got {type(fits).__name__}")
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a DataSplit, got {type(data).__name__}")
    depths = sorted({d for d, label in zip(fits.depths, fits.labels) if label in ARCHITECTURE_COLORS})
    colors = {"field": "net", "type": "nominal", "title": None,
              "scale": {"domain": list(ARCHITECTURE_COLORS), "range": list(ARCHITECTURE_COLORS.values())}}
    fit = static.overlay(
        static.view("fit", {"type": "line", "clip": True}, "input x", "output m(x; θ)", color=None,
                    y_domain=(-2.2, 2.2),
                    encoding={"detail": {"field": "series"}}, title="The fits of every seed"),
        static.view("data", {"type": "point", "filled": True, "color": "black"}, "input x", "output m(x; θ)",
                    color=None))
    loss = static.view("loss", {"type": "line", "opacity": 0.7}, "epoch", "training loss (MSE, log)", log_y=True,
                       encoding={"color": colors, "detail": {"field": "series"}},
                       title="Training loss, both architectures")
    return static.live_twin(functools.partial(depth_records, fits, data),
                            {"depth": depths, "architecture": ["plain", "residual"]},
                            static.with_caption(static.side_by_side(fit, loss)), start={"depth": depths[-1]})
