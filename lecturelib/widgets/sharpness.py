"""Interactive figure of the chapter on sharpness: Dinh et al.'s rescaling changes the curvature."""

from __future__ import annotations

from .. import plotting
from . import interactive_figure

__all__ = ["rescaling_widget"]


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
