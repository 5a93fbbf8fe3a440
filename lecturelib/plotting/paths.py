r"""Figures of paths between two minima (Garipov et al. 2018, figs. 1-2).

* :func:`plot_profiles`: train loss or test error along several paths :math:`\phi(t)`.
* :func:`plot_plane`: log-loss contours in the plane through :math:`w_1, w_2, \theta`, with the
  paths drawn on it.
"""

from __future__ import annotations

import numpy as np

from ..connectivity import PathProfile
from . import style
from .landscape import filled_contour

__all__ = ["PATH_COLORS", "plot_profiles", "plot_plane", "path_color", "check_profiles"]

PATH_COLORS = {"line": style.PALETTE["vermillion"], "bezier": style.PALETTE["blue"],
               "polychain": style.PALETTE["green"]}


def path_color(name: str, index: int) -> str:
    """The colour of path ``name``: :data:`PATH_COLORS`, else the palette from position ``index + 3``."""
    return PATH_COLORS.get(name, style.color_for(index + 3))


def check_profiles(profiles, name: str = "profiles") -> None:
    """``TypeError`` unless ``profiles`` is a non-empty dict of path name -> :class:`PathProfile`."""
    if not isinstance(profiles, dict) or not profiles or not all(isinstance(p, PathProfile) for p in profiles.values()):
        raise TypeError(f"{name} must be a non-empty dict of path name -> PathProfile")


def plot_profiles(ax, profiles: dict, metric: str = "loss", log: bool = True, marker_t: float | None = None):
    """Draw ``metric`` (``"loss"`` or ``"error"``, the latter in %) against :math:`t` for every path."""
    check_profiles(profiles)
    if metric not in ("loss", "error"):
        raise ValueError(f"metric must be 'loss' or 'error', got {metric!r}")
    for index, (name, profile) in enumerate(profiles.items()):
        values = profile.loss if metric == "loss" else 100 * profile.error
        ax.plot(profile.t, values, color=path_color(name, index), label=name)
        if marker_t is not None:
            k = int(np.argmin(np.abs(profile.t - marker_t)))
            ax.plot(profile.t[k], values[k], "o", color=path_color(name, index), markersize=6)
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
    if not isinstance(paths, dict):
        raise TypeError(f"paths must be a dict of name -> (T, 2) coordinates, got {type(paths).__name__}")
    filled_contour(result, ax=ax, levels=levels, log=True, title=title, colorbar_label="train loss",
                   xlabel=r"$u$ coordinate (parameter distance)", ylabel=r"$v$ coordinate (parameter distance)")
    for index, (name, coords) in enumerate(paths.items()):
        coords = np.asarray(coords)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"paths[{name!r}] must have shape (T, 2), got {coords.shape}")
        ax.plot(coords[:, 0], coords[:, 1], color=path_color(name, index), linewidth=2.2, label=name)
    for label, (a, b) in (points or {}).items():
        ax.plot(a, b, "o", color="white", markeredgecolor="black", markersize=7)
        ax.annotate(label, (a, b), textcoords="offset points", xytext=(6, 6), color="white", fontsize=10)
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return ax
