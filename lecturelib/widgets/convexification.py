r"""The widget of the convexification chapter: the nuclear-norm radius and the number of kernel
features of a CCNN-1, and what they do to the solution.

:func:`ccnn_widget` has two sliders, the radius :math:`R` of the ball :math:`\|A\|_* \le R` and the
number :math:`m` of random Fourier features; it shows the singular values of the solution
:math:`A` and its train and test error. It is handed the solved grid
(:func:`lecturelib.experiments.convexification.relaxation.kernel_grid`) and only redraws it;
:func:`ccnn_twin` is the same figure for the static book (:mod:`lecturelib.widgets.static`).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import plotting
from ..plotting.convexification import draw_singular_values
from . import interactive_figure, static

__all__ = ["ccnn_widget", "ccnn_twin", "ccnn_records", "SHOWN_VALUES"]

SHOWN_VALUES = 30   # the largest singular values drawn; the rest are small


def _axes(points: dict) -> tuple[list, list]:
    if not isinstance(points, dict) or not points:
        raise TypeError(f"points must be a non-empty dict (radius, n_features) -> KernelPoint, got {type(points).__name__}")
    for key, point in points.items():
        if not (isinstance(key, tuple) and len(key) == 2) or not hasattr(point, "singular_values"):
            raise ValueError(f"points must map (radius, n_features) to KernelPoint, got {key!r} -> {type(point).__name__}")
    radii = sorted({key[0] for key in points})
    counts = sorted({key[1] for key in points})
    missing = [(r, m) for r in radii for m in counts if (r, m) not in points]
    if missing:
        raise ValueError(f"points must cover the whole grid of radii x feature counts; missing {missing[:3]}")
    return radii, counts


def _summary(radius, n_features, point) -> str:
    return (f"R = {radius:g}, m = {n_features}: train error {100 * point.train_error:.1f} %, "
            f"test error {100 * point.test_error:.1f} %")


def ccnn_records(points: dict, radius, n_features) -> list:
    """What the widget and its twin show at one setting: the largest singular values and the errors."""
    point = points[(float(radius), int(n_features))]
    s = np.sort(np.asarray(point.singular_values, dtype=float))[::-1][:SHOWN_VALUES]
    return [{"panel": "spectrum", "x": np.arange(1, len(s) + 1), "y": s},
            {"panel": "caption", "text": _summary(radius, n_features, point)}]


def ccnn_widget(points: dict):
    """Widget: radius R and features m -> singular values of the CCNN's A, train and test error."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    radii, counts = _axes(points)

    def draw(radius, n_features):
        point = points[(radius, n_features)]
        fig, ax = plotting.subplots(1, 1, width=6.0, height=3.6)
        draw_singular_values(ax, np.sort(point.singular_values)[::-1][:SHOWN_VALUES],
                             title=_summary(radius, n_features, point))
        plt.show()

    controls = {
        "radius": widgets.SelectionSlider(options=radii, value=radii[len(radii) // 2], description="radius R"),
        "n_features": widgets.SelectionSlider(options=counts, value=counts[len(counts) // 2],
                                              description="features m"),
    }
    return interactive_figure(draw, controls, title="A CCNN-1 as the nuclear-norm ball grows")


def ccnn_twin(points: dict):
    """The live figure of :func:`ccnn_widget` for the static book."""
    radii, counts = _axes(points)
    chart = static.view("spectrum", "bar", "index i", "singular value σ_i(A)", color=None, width=520, height=260)
    return static.live_twin(functools.partial(ccnn_records, points), {"radius": radii, "n_features": counts},
                            static.with_caption(chart, width=520),
                            labels={"radius": "radius R", "n_features": "features m"},
                            start={"radius": radii[len(radii) // 2], "n_features": counts[len(counts) // 2]})
