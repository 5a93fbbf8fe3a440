r"""The widget of the mode-connectivity chapter (Garipov et al. 2018, figs. 1-2).

:func:`path_explorer`: a slider for :math:`t` and a menu of paths; shows where :math:`\phi(t)`
sits on the loss profile and in the plane, with its train loss and test error. The figures are
:mod:`lecturelib.plotting.paths`.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import plotting
from ..plotting.paths import check_profiles, path_color, plot_plane, plot_profiles
from . import interactive_figure, static

__all__ = ["path_explorer", "path_twin", "path_records"]


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


def path_records(train_profiles: dict, test_profiles: dict, coordinates: dict, path, t) -> list:
    r"""What changes with the controls: :math:`\phi(t)` on the chosen path, on the loss profile and
    in the plane, and its train loss and test error."""
    t_values = next(iter(train_profiles.values())).t
    k = int(np.argmin(np.abs(t_values - t)))
    loss, error = train_profiles[path].loss[k], 100 * test_profiles[path].error[k]
    a, b = np.asarray(coordinates[path])[k]
    return [{"panel": "marker", "x": float(t_values[k]), "y": float(loss)},
            {"panel": "where", "x": float(a), "y": float(b)},
            {"panel": "caption", "text": f"{path} at t = {t_values[k]:.2f}: train loss {loss:.3g}, "
                                         f"test error {error:.1f}%"}]


def _shared_records(train_profiles: dict, plane_result, coordinates: dict, every: int) -> list:
    """What every state shows: each path's loss profile and its trace in the plane, over the plane's loss."""
    surface = static.grid_cells("plane", plane_result.alphas[::every], plane_result.betas[::every],
                                plane_result.loss[::every, ::every])
    profiles = [{"panel": "profile", "series": name, "x": p.t, "y": p.loss} for name, p in train_profiles.items()]
    traces = [{"panel": "trace", "series": name, "x": np.asarray(c)[:, 0], "y": np.asarray(c)[:, 1],
               "k": np.arange(len(c))} for name, c in coordinates.items()]
    return [surface, *profiles, *traces]


def path_twin(train_profiles: dict, test_profiles: dict, plane_result, coordinates: dict, every: int = 1):
    """The live figure of :func:`path_explorer` for the static book (:mod:`lecturelib.widgets.static`);
    the plane's loss is stored once, at every ``every``-th grid point."""
    check_profiles(train_profiles, "train_profiles")
    check_profiles(test_profiles, "test_profiles")
    if set(train_profiles) != set(test_profiles) or set(train_profiles) != set(coordinates):
        raise ValueError("train_profiles, test_profiles and coordinates must name the same paths")
    names = list(train_profiles)
    t_values = [float(t) for t in next(iter(train_profiles.values())).t]
    colors = {"field": "series", "type": "nominal", "title": "path",
              "scale": {"domain": names, "range": [path_color(name, k) for k, name in enumerate(names)]}}
    star = {"type": "point", "shape": "diamond", "size": 220, "filled": True, "color": plotting.PALETTE["yellow"],
            "stroke": "black"}
    profile = static.overlay(
        static.view("profile", "line", "t (position along the path)", "train loss (cross-entropy, log)", log_y=True,
                    encoding={"color": colors}, title="Train loss along each path"),
        static.view("marker", star, "", "", color=None, arrays=(), log_y=True))
    plane = static.overlay(
        static.heatmap("plane", "u (parameter distance)", "v (parameter distance)", "train loss", log=True,
                       title="Where phi(t) lies in the plane", width=300, height=300),
        static.view("trace", {"type": "line", "strokeWidth": 2.5}, "", "", encoding={"color": colors,
                    "order": {"field": "k"}}, arrays=("x", "y", "k")),
        static.view("where", star, "", "", color=None, arrays=()))
    return static.live_twin(functools.partial(path_records, train_profiles, test_profiles, coordinates),
                            {"path": names, "t": t_values}, static.with_caption(static.side_by_side(profile, plane)),
                            shared=_shared_records(train_profiles, plane_result, coordinates, every),
                            start={"path": names[min(1, len(names) - 1)],
                                   "t": min(t_values, key=lambda t: abs(t - 0.5))})
