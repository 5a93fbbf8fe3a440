r"""Widgets of the batch-normalisation chapter.

:func:`running_statistics_widget`: batch size and momentum :math:`\rho` against the error of
batch norm's running averages (Ioffe & Szegedy 2015, Algorithm 2), which evaluation mode uses
in place of the batch statistics. It draws the traces it is handed
(:func:`lecturelib.experiments.batchnorm.running_statistics_traces`).
"""

from __future__ import annotations

import functools

from .. import plotting
from . import interactive_figure, static

__all__ = ["running_statistics_widget", "running_statistics_twin", "running_statistics_records"]

_TRACE_KEYS = {"batch_mean", "running_mean", "running_var", "mean", "var"}


def running_statistics_widget(traces: dict):
    """Sliders for the batch size and the momentum above a plot of channel 0's batch means,
    running mean and running variance against the population values.

    ``traces`` maps ``(batch_size, momentum)`` to a trace of
    :func:`lecturelib.experiments.batchnorm.running_statistics_trace`, one for every pair of the
    batch sizes and momenta the sliders offer; they start at batch size 8 and momentum 0.1 when
    those are there.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(traces, dict) or not traces:
        raise TypeError(f"traces must be a non-empty dict (batch_size, momentum) -> trace, got {type(traces).__name__}")
    if not all(isinstance(key, tuple) and len(key) == 2 and isinstance(trace, dict) and _TRACE_KEYS <= set(trace)
               for key, trace in traces.items()):
        raise ValueError("traces must map (batch_size, momentum) pairs to running_statistics_trace dicts")
    batch_sizes = sorted({b for b, _ in traces})
    momenta = sorted({m for _, m in traces})
    missing = [(b, m) for b in batch_sizes for m in momenta if (b, m) not in traces]
    if missing:
        raise ValueError(f"traces must hold every pair of its batch sizes and momenta; missing {missing[:3]}")

    def draw(batch_size, momentum):
        trace = traces[(batch_size, momentum)]
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
        "batch_size": widgets.SelectionSlider(options=batch_sizes, value=8 if 8 in batch_sizes else batch_sizes[0],
                                              description="batch size"),
        "momentum": widgets.SelectionSlider(options=momenta, value=0.1 if 0.1 in momenta else momenta[0],
                                            description="momentum"),
    }
    return interactive_figure(draw, controls, title="Running averages: what eval() uses")


def running_statistics_records(traces: dict, batch_size, momentum) -> list:
    """What the widget and its twin show for one pair: the batch means, the running mean and
    variance against the population values, and the final running-mean error."""
    trace = traces[(batch_size, momentum)]
    steps = list(range(len(trace["running_mean"])))
    error = abs(float(trace["running_mean"][-1]) - float(trace["mean"]))
    x = static.every(steps, 2)  # every other step: half the page weight, the same picture
    return [{"panel": "batch", "series": "batch mean", "x": x, "y": static.every(trace["batch_mean"], 2)},
            {"panel": "mean", "series": "running mean", "x": x, "y": static.every(trace["running_mean"], 2)},
            {"panel": "mean", "series": "population mean", "x": [0, steps[-1]], "y": [trace["mean"]] * 2},
            {"panel": "var", "series": "running variance", "x": x, "y": static.every(trace["running_var"], 2)},
            {"panel": "var", "series": "population variance", "x": [0, steps[-1]], "y": [trace["var"]] * 2},
            {"panel": "caption", "text": f"batch size {batch_size}, momentum {momentum:g}: "
                                         f"final running-mean error {error:.3f}"}]


def running_statistics_twin(traces: dict):
    """The live figure of :func:`running_statistics_widget` for the static book
    (:mod:`lecturelib.widgets.static`): the same traces, every pair stored in the page."""
    if not isinstance(traces, dict) or not traces:
        raise TypeError(f"traces must be a non-empty dict (batch_size, momentum) -> trace, got {type(traces).__name__}")
    batch_sizes, momenta = sorted({b for b, _ in traces}), sorted({m for _, m in traces})
    mean = static.overlay(static.view("batch", {"type": "point", "size": 8, "opacity": 0.5, "filled": True},
                                      "training step", "channel 0 mean", title="Running mean"),
                          static.view("mean", "line", "training step", "channel 0 mean"))
    variance = static.view("var", "line", "training step", "channel 0 variance",
                           title="Running variance starts at 1")
    return static.live_twin(functools.partial(running_statistics_records, traces),
                            {"batch_size": batch_sizes, "momentum": momenta},
                            static.with_caption(static.side_by_side(mean, variance)),
                            labels={"batch_size": "batch size", "momentum": "momentum"},
                            start={"batch_size": 8 if 8 in batch_sizes else batch_sizes[0],
                                   "momentum": 0.1 if 0.1 in momenta else momenta[0]})
