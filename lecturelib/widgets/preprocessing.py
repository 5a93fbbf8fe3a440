"""Widgets of the preprocessing chapter.

:func:`preprocessing_widget`: offset, stretch and rotation of a 2-D Gaussian cloud and a
preprocessing (:func:`lecturelib.data.preprocess_matrix`) -> the transformed cloud and gradient
descent on least squares, raw against preprocessed (:mod:`lecturelib.conditioning`; LeCun et al.
1998/2012, section 4.3).
"""

from __future__ import annotations

import numpy as np

from .. import conditioning, plotting
from .._checks import check_int, check_real
from ..data import PREPROCESSINGS, preprocess_matrix
from . import interactive_figure

__all__ = ["preprocessing_widget"]


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
        X, y = conditioning.gaussian_cloud(n=400, mean=(offset, 0.5 * offset), stds=(stretch, 1.0),
                                           angle_degrees=angle, seed=0)
        Z = preprocess_matrix(X, how)
        fig, (left, right) = plotting.subplots(1, 2, width=9.5, height=3.8)
        left.scatter(X[:, 0], X[:, 1], s=6, alpha=0.35, color=plotting.color_for(6), label="raw")
        left.scatter(Z[:, 0], Z[:, 1], s=6, alpha=0.6, color=plotting.color_for(0), label=how)
        left.set_aspect("equal", adjustable="datalim")
        left.legend(loc="upper left")
        plotting.label(left, "feature 1", "feature 2", "The cloud before and after")
        for data, name, color in ((X, "raw", plotting.color_for(6)), (Z, how, plotting.color_for(0))):
            kappa = conditioning.condition_number(conditioning.least_squares_hessian(data))
            steps = conditioning.exact_steps(data, y, tol=tol)
            run = conditioning.gradient_descent_steps(data, y, tol=tol, max_steps=max_steps)
            right.semilogy(np.maximum(run.relative_excess, 1e-16), color=color,
                           label=f"{name}: kappa {kappa:.3g}, {steps} steps")
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
