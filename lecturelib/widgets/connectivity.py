r"""Figures and the widget of the mode-connectivity chapter (Garipov et al. 2018, figs. 1-2).

* :func:`plot_profiles`: train loss or test error along several paths :math:`\phi(t)`.
* :func:`plot_plane`: log-loss contours in the plane through :math:`w_1, w_2, \theta`, with the
  paths drawn on it.
* :func:`path_explorer`: a slider for :math:`t` and a menu of paths; shows where
  :math:`\phi(t)` sits on the loss profile and in the plane, with its train loss and test error.
"""

from __future__ import annotations

import numpy as np

from .. import plotting
from ..connectivity import PathProfile
from . import interactive_figure

__all__ = ["PATH_COLORS", "plot_profiles", "plot_plane", "path_explorer"]

PATH_COLORS = {"line": plotting.PALETTE["vermillion"], "bezier": plotting.PALETTE["blue"],
               "polychain": plotting.PALETTE["green"]}


def _color(name, index):
    return PATH_COLORS.get(name, plotting.color_for(index + 3))


def _check_profiles(profiles, name="profiles"):
    if not isinstance(profiles, dict) or not profiles or not all(isinstance(p, PathProfile) for p in profiles.values()):
        raise TypeError(f"{name} must be a non-empty dict of path name -> PathProfile")


def plot_profiles(ax, profiles: dict, metric: str = "loss", log: bool = True, marker_t: float | None = None):
    """Draw ``metric`` (``"loss"`` or ``"error"``, the latter in %) against :math:`t` for every path."""
    _check_profiles(profiles)
    if metric not in ("loss", "error"):
        raise ValueError(f"metric must be 'loss' or 'error', got {metric!r}")
    for index, (name, profile) in enumerate(profiles.items()):
        values = profile.loss if metric == "loss" else 100 * profile.error
        ax.plot(profile.t, values, color=_color(name, index), label=name)
        if marker_t is not None:
            k = int(np.argmin(np.abs(profile.t - marker_t)))
            ax.plot(profile.t[k], values[k], "o", color=_color(name, index), markersize=6)
    if marker_t is not None:
        ax.axvline(marker_t, color="0.5", linewidth=0.8, linestyle=":")
    if log and metric == "loss":
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_plane(ax, result, paths: dict, points: dict | None = None, levels: int = 20, title: str | None = None):
    r"""Filled contours of :math:`\log_{10}` loss over the plane and each path's ``(T, 2)`` coordinates.

    ``result`` is a plane from :func:`lecturelib.landscape.plane` evaluated with the orthonormal
    basis of :func:`lecturelib.connectivity.plane_basis` and origin :math:`w_1`, so its axes are
    distances in parameter space; ``points`` maps labels (e.g. ``"$w_1$"``) to ``(a, b)``.
    """
    from ..landscape_plots import filled_contour

    if not isinstance(paths, dict):
        raise TypeError(f"paths must be a dict of name -> (T, 2) coordinates, got {type(paths).__name__}")
    filled_contour(result, ax=ax, levels=levels, log=True, title=title, colorbar_label="train loss",
                   xlabel=r"$u$ coordinate (parameter distance)", ylabel=r"$v$ coordinate (parameter distance)")
    for index, (name, coords) in enumerate(paths.items()):
        coords = np.asarray(coords)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"paths[{name!r}] must have shape (T, 2), got {coords.shape}")
        ax.plot(coords[:, 0], coords[:, 1], color=_color(name, index), linewidth=2.2, label=name)
    for label, (a, b) in (points or {}).items():
        ax.plot(a, b, "o", color="white", markeredgecolor="black", markersize=7)
        ax.annotate(label, (a, b), textcoords="offset points", xytext=(6, 6), color="white", fontsize=10)
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return ax


def path_explorer(train_profiles: dict, test_profiles: dict, plane_result, coordinates: dict, points=None):
    r"""Widget: pick a path and move :math:`t`; see :math:`\phi(t)` on the train-loss profiles and in the plane.

    ``train_profiles`` / ``test_profiles`` map path names to :class:`PathProfile` s sampled at the
    same ``t`` values as the rows of ``coordinates[name]`` (plane coordinates, ``(T, 2)``).
    Everything is precomputed, so redrawing costs no network evaluation.
    """
    import ipywidgets as widgets

    _check_profiles(train_profiles, "train_profiles")
    _check_profiles(test_profiles, "test_profiles")
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
