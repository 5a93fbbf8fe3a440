"""Widgets of the preprocessing chapter.

:func:`preprocessing_widget`: offset, stretch and rotation of a 2-D Gaussian cloud and a
preprocessing (:func:`lecturelib.data.preprocess_matrix`) -> the transformed cloud and gradient
descent on least squares, raw against preprocessed (:mod:`lecturelib.conditioning`; LeCun et al.
1998/2012, section 4.3).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import conditioning, plotting
from .._checks import check_int, check_real
from ..data import PREPROCESSINGS, preprocess_matrix
from . import interactive_figure, static

__all__ = ["preprocessing_widget", "preprocessing_twin", "preprocessing_state", "preprocessing_records"]


def preprocessing_state(offset, stretch, angle, how, tol: float = 1e-6, max_steps: int = 3000) -> dict:
    """What the widget and its twin draw for one setting: the raw cloud ``X`` and its preprocessed
    ``Z``, and for each, gradient descent's relative excess loss per step, the condition number of
    the least-squares Hessian and the exact number of steps to ``tol``."""
    X, y = conditioning.gaussian_cloud(n=400, mean=(offset, 0.5 * offset), stds=(stretch, 1.0),
                                       angle_degrees=angle, seed=0)
    Z = preprocess_matrix(X, how)
    runs = {}
    for data, name in ((X, "raw"), (Z, how)):
        runs[name] = {"kappa": conditioning.condition_number(conditioning.least_squares_hessian(data)),
                      "steps": conditioning.exact_steps(data, y, tol=tol),
                      "excess": np.maximum(conditioning.gradient_descent_steps(data, y, tol=tol, max_steps=max_steps)
                                           .relative_excess, 1e-16)}
    return {"X": X, "Z": Z, "runs": runs}


def preprocessing_records(offset, stretch, angle, how, tol: float = 1e-6, max_steps: int = 3000) -> list:
    """:func:`preprocessing_state` as the twin's records (50 of the 400 points, every 25th step)."""
    state = preprocessing_state(offset, stretch, angle, how, tol, max_steps)
    records = [{"panel": "cloud", "series": name, "x": cloud[::8, 0], "y": cloud[::8, 1]}
               for name, cloud in (("raw", state["X"]), (how, state["Z"]))]
    for name, run in state["runs"].items():
        steps = list(range(len(run["excess"])))
        records.append({"panel": "descent", "series": f"{name}: kappa {run['kappa']:.3g}, {run['steps']} steps",
                        "x": static.every(steps, 25), "y": static.every(run["excess"], 25)})
    return records


def preprocessing_widget(tol: float = 1e-6, max_steps: int = 3000):
    """Sliders for a 2-D Gaussian cloud (offset of its mean, ratio of its two standard
    deviations, rotation) and a preprocessing: draws the preprocessed cloud and the relative
    excess loss of gradient descent on least squares, raw against preprocessed, with the
    condition numbers and the exact step counts to ``tol``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_real("tol", tol, 0.0, 1.0, open_min=True, open_max=True)
    check_int("max_steps", max_steps, minimum=1)

    def draw(offset, stretch, angle, how):
        state = preprocessing_state(offset, stretch, angle, how, tol, max_steps)
        X, Z = state["X"], state["Z"]
        fig, (left, right) = plotting.subplots(1, 2, width=9.5, height=3.8)
        left.scatter(X[:, 0], X[:, 1], s=6, alpha=0.35, color=plotting.color_for(6), label="raw")
        left.scatter(Z[:, 0], Z[:, 1], s=6, alpha=0.6, color=plotting.color_for(0), label=how)
        left.set_aspect("equal", adjustable="datalim")
        left.legend(loc="upper left")
        plotting.label(left, "feature 1", "feature 2", "The cloud before and after")
        for (name, run), color in zip(state["runs"].items(), (plotting.color_for(6), plotting.color_for(0))):
            right.semilogy(run["excess"], color=color, label=f"{name}: kappa {run['kappa']:.3g}, {run['steps']} steps")
        right.axhline(tol, color="grey", linestyle=":", linewidth=1)
        right.set_ylim(tol / 10, 2)
        right.legend(loc="upper right")
        plotting.label(right, "gradient-descent step", "relative excess loss",
                       "Better conditioning, fewer steps")
        plt.show()

    controls = {
        "offset": widgets.FloatSlider(value=4.0, min=0.0, max=10.0, step=0.5, description="mean offset"),
        "stretch": widgets.FloatLogSlider(value=5.0, base=10, min=0, max=1.3, step=0.05, description="std ratio"),
        "angle": widgets.FloatSlider(value=30.0, min=0.0, max=90.0, step=5.0, description="rotation (deg)"),
        "how": widgets.Dropdown(options=list(PREPROCESSINGS[1:]), value="standardised", description="preprocess"),
    }
    return interactive_figure(draw, controls, title="Preprocessing a 2-D cloud and gradient descent")


def preprocessing_twin(offsets=(0.0, 5.0, 10.0), stretches=(1.0, 5.0, 20.0), angles=(0.0, 45.0, 90.0),
                       tol: float = 1e-6, max_steps: int = 3000):
    """The live figure of :func:`preprocessing_widget` for the static book (:mod:`lecturelib.widgets.static`)."""
    check_real("tol", tol, 0.0, 1.0, open_min=True, open_max=True)
    check_int("max_steps", max_steps, minimum=1)
    cloud = static.view("cloud", {"type": "point", "filled": True, "size": 12, "opacity": 0.6}, "feature 1",
                        "feature 2", title="The cloud before and after", width=300, height=300)
    descent = static.view("descent", "line", "gradient-descent step", "relative excess loss (log)", log_y=True,
                          y_domain=(tol / 10, 2), title="Better conditioning, fewer steps", width=300, height=300,
                          encoding={"color": {"field": "series", "type": "nominal", "title": None,
                                              "legend": {"orient": "bottom", "direction": "vertical"}}})
    return static.live_twin(functools.partial(preprocessing_records, tol=tol, max_steps=max_steps),
                            {"offset": list(offsets), "stretch": list(stretches), "angle": list(angles),
                             "how": list(PREPROCESSINGS[1:])}, static.side_by_side(cloud, descent),
                            labels={"offset": "mean offset", "stretch": "std ratio", "angle": "rotation (deg)",
                                    "how": "preprocess"},
                            start={"offset": offsets[len(offsets) // 2], "stretch": stretches[len(stretches) // 2],
                                   "how": "standardised"})
