"""Interactive figure of the chapter on sharpness: Dinh et al.'s rescaling changes the curvature."""

from __future__ import annotations

import math

import torch

from .. import hessian, plotting
from .._checks import check_int, check_positive
from . import interactive_figure

__all__ = ["rescaling_curves", "rescaling_widget"]


def rescaling_curves(model, X, y, alpha: float, layer: int = 0, radius: float = 1.0, points: int = 41,
                     seed: int = 0) -> dict:
    r"""What the widget draws for one :math:`\alpha`: the loss along one random unit direction
    :math:`d` (the same for every :math:`\alpha`) through the original and the rescaled parameters,
    :math:`f(\theta + t d)` for :math:`t \in [-r, r]`, and both top Hessian eigenvalues.

    Returns ``{"t", "original", "rescaled"}`` (``(points,)`` tensors) and ``"top_original"``,
    ``"top_rescaled"``, ``"output_change"`` (the largest change of the network's outputs on ``X``).
    """
    check_int("points", points, minimum=3)
    check_positive("radius", radius)
    scaled = hessian.rescale_layers(model, alpha, layer)
    t = torch.linspace(-radius, radius, points, dtype=torch.float64)
    curves = {"t": t}
    for key, net in (("original", model), ("rescaled", scaled)):
        operator = hessian.HessianOperator(net, X, y)
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(operator.size, generator=generator, dtype=torch.float64)
        direction = (direction / direction.norm()).to(operator.theta)
        curves[key] = torch.tensor([operator.loss(operator.theta + float(s) * direction) for s in t])
        curves[f"top_{key}"] = float(hessian.top_eigenvalues(net, X, y, tol=1e-8)[0])
    with torch.no_grad():
        curves["output_change"] = float((scaled(X) - model(X)).abs().max())
    return curves


def rescaling_widget(model, X, y, layer: int = 0, radius: float = 1.0):
    r"""A slider for :math:`\log_{10}\alpha`: layer ``layer`` is multiplied by :math:`\alpha`, the next
    by :math:`1/\alpha` (Dinh et al. 2017). Left, the loss along a random unit direction through
    both parameter vectors; right, the top Hessian eigenvalue against :math:`\alpha`. The function
    (and every prediction) is unchanged; the curvature is not."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    grid = [10 ** (k / 4) for k in range(-4, 5)]
    tops = [float(hessian.top_eigenvalues(hessian.rescale_layers(model, a, layer), X, y, tol=1e-8)[0]) for a in grid]

    def draw(log10_alpha):
        alpha = 10 ** log10_alpha
        curves = rescaling_curves(model, X, y, alpha, layer, radius)
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

    slider = widgets.FloatSlider(value=0.5, min=-1.0, max=1.0, step=0.25, description="log10 α",
                                 continuous_update=False)
    return interactive_figure(draw, {"log10_alpha": slider},
                              title="Rescale a LeakyReLU network's layers: same predictions, different sharpness")
