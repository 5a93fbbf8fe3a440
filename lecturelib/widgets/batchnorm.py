r"""Widgets of the batch-normalisation chapter.

:func:`running_statistics_widget`: batch size and momentum :math:`\rho` against the error of
batch norm's running averages (Ioffe & Szegedy 2015, Algorithm 2), which evaluation mode uses
in place of the batch statistics.
"""

from __future__ import annotations

import torch

from .. import plotting
from .._checks import check_seed
from ..norm import BatchNorm
from . import interactive_figure

__all__ = ["running_statistics_trace", "running_statistics_widget"]


def running_statistics_trace(features: torch.Tensor, batch_size: int, momentum: float, steps: int = 200,
                             seed: int = 0) -> dict:
    r"""Feed ``steps`` random minibatches of ``features`` ``(N, C)`` through a :class:`BatchNorm`
    and record, per step, the batch mean of channel 0, the running mean
    :math:`\hat\mu\leftarrow(1-\rho)\hat\mu+\rho\mu_\mathcal{B}` and the running variance.

    Returns ``{"batch_mean", "running_mean", "running_var"}`` (lists of floats) plus the
    population values ``"mean"`` and ``"var"`` of channel 0 over all ``N`` rows.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise TypeError(f"features must be a (samples, channels) tensor, got {type(features).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 2 <= batch_size <= len(features):
        raise ValueError(f"batch_size must be an int in [2, {len(features)}], got {batch_size!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    layer = BatchNorm(features.shape[1], momentum=momentum).to(features.dtype)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    record = {"batch_mean": [], "running_mean": [], "running_var": []}
    with torch.no_grad():
        for _ in range(steps):
            batch = features[torch.randperm(len(features), generator=generator)[:batch_size]]  # (batch, C)
            layer(batch)
            record["batch_mean"].append(float(batch[:, 0].mean()))
            record["running_mean"].append(float(layer.running_mean[0]))
            record["running_var"].append(float(layer.running_var[0]))
    record["mean"] = float(features[:, 0].mean())
    record["var"] = float(features[:, 0].var())
    return record


def running_statistics_widget(features: torch.Tensor, steps: int = 200):
    """Sliders for batch size (2 to 256) and momentum (0.01 to 1) above a plot of channel 0's
    batch means, running mean and running variance against the population values."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def draw(batch_size, momentum):
        trace = running_statistics_trace(features, batch_size, momentum, steps)
        fig, (ax_mean, ax_var) = plotting.subplots(1, 2, width=10, height=3.4)
        ax_mean.plot(trace["batch_mean"], ".", markersize=3, alpha=0.5, label="batch mean")
        ax_mean.plot(trace["running_mean"], label="running mean")
        ax_mean.axhline(trace["mean"], color="black", linestyle="--", label="population mean")
        ax_var.plot(trace["running_var"], color=plotting.color_for(1), label="running variance")
        ax_var.axhline(trace["var"], color="black", linestyle="--", label="population variance")
        error = abs(trace["running_mean"][-1] - trace["mean"])
        plotting.label(ax_mean, "training step", "channel 0 mean", f"final running-mean error {error:.3f}")
        plotting.label(ax_var, "training step", "channel 0 variance", "running variance starts at 1")
        ax_mean.legend(), ax_var.legend()
        plt.show()

    controls = {
        "batch_size": widgets.IntSlider(value=8, min=2, max=256, step=2, description="batch size"),
        "momentum": widgets.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.1, description="momentum"),
    }
    return interactive_figure(draw, controls, title="Running averages: what eval() uses")
