r"""The widget of the mode-connectivity chapter (Garipov et al. 2018, figs. 1-2).

:func:`path_explorer`: a slider for :math:`t` and a menu of paths; shows where :math:`\phi(t)`
sits on the loss profile and in the plane, with its train loss and test error. The figures are
:mod:`lecturelib.plotting.paths`.
"""

from __future__ import annotations

import numpy as np

from .. import plotting
from ..plotting.paths import check_profiles, plot_plane, plot_profiles
from . import interactive_figure

__all__ = ["path_explorer"]


def path_explorer(train_profiles: dict, test_profiles: dict, plane_result, coordinates: dict, points=None):
    r"""Widget: pick a path and move :math:`t`; see :math:`\phi(t)` on the train-loss profiles and in the plane.

    ``train_profiles`` / ``test_profiles`` map path names to :class:`PathProfile` s sampled at the
    same ``t`` values as the rows of ``coordinates[name]`` (plane coordinates, ``(T, 2)``).
    Everything is precomputed, so redrawing costs no network evaluation.
    """
    import ipywidgets as widgets

    check_profiles(train_profiles, "train_profiles")
    check_profiles(test_profiles, "test_profiles")
    if set(train_profiles) != set(test_profiles) or set(train_profiles) != set(coordinates):
        raise ValueError("train_profiles, test_profiles and coordinates must name the same paths")
    for name, profile in train_profiles.items():
        if len(np.asarray(coordinates[name])) != len(profile.t):
            raise ValueError(f"coordinates[{name!r}] has {len(coordinates[name])} rows, "
                             f"the profile {len(profile.t)} t values")
    names = list(train_profiles)
    t_values = next(iter(train_profiles.values())).t

    def draw(path, t):
        k = int(np.argmin(np.abs(t_values - t)))
        loss, error = train_profiles[path].loss[k], 100 * test_profiles[path].error[k]
        fig, (left, right) = plotting.subplots(1, 2, width=10.5, height=4.2)
        plot_profiles(left, train_profiles, "loss", marker_t=t_values[k])
        plotting.label(left, "t (position along the path)", "train loss (cross-entropy)",
                       f"{path} at t = {t_values[k]:.2f}: train loss {loss:.3g}, test error {error:.1f}%")
        plot_plane(right, plane_result, coordinates, points, title="where phi(t) lies in the plane")
        a, b = np.asarray(coordinates[path])[k]
        right.plot(a, b, "*", color=plotting.PALETTE["yellow"], markeredgecolor="black", markersize=15)

    controls = {
        "path": widgets.Dropdown(options=names, value=names[min(1, len(names) - 1)], description="path"),
        "t": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=float(t_values[1] - t_values[0]),
                                 description="t", continuous_update=False),
    }
    return interactive_figure(draw, controls, title="Move along the line and along the trained curves")
