"""Interactive figure of the chapter on sharpness: Dinh et al.'s rescaling changes the curvature."""

from __future__ import annotations

import functools

from .. import plotting
from . import interactive_figure, static

__all__ = ["rescaling_widget", "rescaling_twin", "rescaling_records"]


def rescaling_widget(sweep: dict):
    r"""A slider for :math:`\log_{10}\alpha` over the curves of
    :func:`lecturelib.experiments.sharpness.rescaling_sweep` (``sweep`` maps :math:`\log_{10}\alpha`
    to :func:`~lecturelib.experiments.sharpness.rescaling_curves`): layer ``layer`` is multiplied by
    :math:`\alpha`, the next by :math:`1/\alpha` (Dinh et al. 2017). Left, the loss along a random
    unit direction through both parameter vectors; right, the top Hessian eigenvalue against
    :math:`\alpha`. The function (and every prediction) is unchanged; the curvature is not.
    Nothing is computed on interaction."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(sweep, dict) or len(sweep) < 2:
        raise ValueError("sweep must be a dict log10(alpha) -> rescaling_curves(...) with at least two entries")
    steps = sorted(sweep)
    grid = [sweep[a]["alpha"] for a in steps]
    tops = [sweep[a]["top_rescaled"] for a in steps]

    def draw(log10_alpha):
        curves = sweep[log10_alpha]
        alpha = curves["alpha"]
        fig, (left, right) = plotting.subplots(1, 2, width=9.0, height=3.4)
        left.plot(curves["t"], curves["original"], color=plotting.color_for(0), label=r"original, $\alpha = 1$")
        left.plot(curves["t"], curves["rescaled"], color=plotting.color_for(3), linestyle="--",
                  label=fr"rescaled, $\alpha = {alpha:.3g}$")
        left.set_yscale("log")
        left.legend()
        plotting.label(left, "step t along a random unit direction", "training loss (MSE)",
                       f"Same function (outputs differ by {curves['output_change']:.1e})")
        right.plot(grid, tops, marker="o", color=plotting.color_for(0))
        right.plot([alpha], [curves["top_rescaled"]], marker="*", markersize=14, color=plotting.color_for(3))
        right.set_xscale("log")
        right.set_yscale("log")
        plotting.label(right, r"rescaling factor $\alpha$", r"top Hessian eigenvalue $\lambda_{max}$",
                       fr"$\lambda_{{max}}$ = {curves['top_rescaled']:.3g} at $\alpha$ = {alpha:.3g}")
        plt.show()

    start = min(steps, key=lambda a: abs(a - 0.5))
    slider = widgets.SelectionSlider(options=steps, value=start, description="log10 α", continuous_update=False)
    return interactive_figure(draw, {"log10_alpha": slider},
                              title="Rescale a LeakyReLU network's layers: same predictions, different sharpness")


def rescaling_records(sweep: dict, log10_alpha) -> list:
    """What both the widget and its twin show at ``log10_alpha``: the two loss curves, the top
    eigenvalue at every :math:`\\alpha` and the selected one, and the caption."""
    curves = sweep[log10_alpha]
    steps = sorted(sweep)
    return [{"panel": "loss", "series": "original, α = 1", "x": curves["t"], "y": curves["original"]},
            {"panel": "loss", "series": f"rescaled, α = {curves['alpha']:.3g}", "x": curves["t"],
             "y": curves["rescaled"]},
            {"panel": "top", "series": "λmax", "x": [sweep[a]["alpha"] for a in steps],
             "y": [sweep[a]["top_rescaled"] for a in steps]},
            {"panel": "selected", "x": curves["alpha"], "y": curves["top_rescaled"]},
            {"panel": "caption", "text": f"Same function (outputs differ by {curves['output_change']:.1e}); "
                                         f"λmax = {curves['top_rescaled']:.3g} at α = {curves['alpha']:.3g}"}]


def rescaling_twin(sweep: dict):
    """The live figure of :func:`rescaling_widget` for the static book (:mod:`lecturelib.widgets.static`)."""
    if not isinstance(sweep, dict) or len(sweep) < 2:
        raise ValueError("sweep must be a dict log10(alpha) -> rescaling_curves(...) with at least two entries")
    steps = sorted(sweep)
    loss = static.view("loss", {"type": "line", "strokeWidth": 2}, "step t along a random unit direction",
                       "training loss (MSE, log)", log_y=True, title="Loss along one direction")
    top = static.overlay(
        static.view("top", {"type": "line", "point": True}, "rescaling factor α (log)", "top Hessian eigenvalue (log)",
                    log_x=True, log_y=True, color=None, title="Sharpness depends on α"),
        static.view("selected", {"type": "point", "shape": "diamond", "size": 200, "filled": True,
                                 "color": plotting.PALETTE["vermillion"]}, "", "", color=None, arrays=(),
                    log_x=True, log_y=True))
    return static.live_twin(functools.partial(rescaling_records, sweep), {"log10_alpha": steps},
                            static.with_caption(static.side_by_side(loss, top)), labels={"log10_alpha": "log10 α"},
                            start={"log10_alpha": min(steps, key=lambda a: abs(a - 0.5))})
