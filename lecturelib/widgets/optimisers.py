r"""Widgets of the optimisers chapter.

:func:`trajectory_explorer`: choose a 2-D test function, several optimisers and their
hyperparameters (learning rate :math:`\alpha`, momentum :math:`\rho`, Adam's :math:`\beta_1,
\beta_2`), and watch their trajectories side by side over the function's contours, with
:math:`f(x_t) - f^\star` per step beside them. The widget computes nothing itself: it calls the
``compute`` function it is handed (the chapter's
:func:`lecturelib.experiments.optimisers.descent.compare_trajectories`) and draws with
:mod:`lecturelib.plotting.trajectories`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .. import plotting
from .._checks import check_callable
from ..optim.functions import TestFunction
from ..plotting import trajectories as figures
from . import interactive_figure, static

__all__ = ["trajectory_explorer", "trajectory_twin", "trajectory_records"]


def trajectory_explorer(compute, functions: dict, optimisers, lr: float = 0.05, steps: int = 100,
                        selected=None):
    """Controls above two panels: the trajectories of the selected optimisers, and their values.

    ``compute(function, names, lr=..., momentum=..., betas=(beta1, beta2), steps=...)`` returns a dict
    name -> :class:`lecturelib.optim.Trajectory`; ``functions`` maps names to 2-D
    :class:`~lecturelib.optim.TestFunction`; ``optimisers`` lists the names ``compute`` understands
    (``selected``, by default the first three, start ticked).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_callable("compute", compute)
    if not isinstance(functions, dict) or not functions or not all(
            isinstance(f, TestFunction) and f.dim == 2 for f in functions.values()):
        raise TypeError("functions must be a non-empty dict of name -> 2-D lecturelib.optim.TestFunction")
    optimisers = list(optimisers)
    if not optimisers or not all(isinstance(name, str) for name in optimisers):
        raise ValueError(f"optimisers must be a non-empty list of names, got {optimisers!r}")
    selected = tuple(optimisers[:3] if selected is None else selected)
    if not set(selected) <= set(optimisers):
        raise ValueError(f"selected must be among the optimisers {optimisers}, got {list(selected)}")

    def draw(function, names, lr, momentum, beta1, beta2, steps):
        test_function = functions[function]
        fig, (ax_path, ax_value) = plotting.subplots(1, 2, width=11, height=4.2)
        if not names:
            ax_path.set_axis_off(), ax_value.set_axis_off()
            ax_path.set_title("tick at least one optimiser")
            plt.show()
            return
        runs = compute(test_function, list(names), lr=lr, momentum=momentum, betas=(beta1, beta2), steps=steps)
        figures.plot_trajectories(ax_path, test_function, runs,
                                  title=f"{test_function.name}: {steps} steps, lr {lr:.3g}")
        figures.plot_values(ax_value, runs, function=test_function, title="distance to the minimum value")
        plt.show()

    controls = {
        "function": widgets.Dropdown(options=list(functions), description="function"),
        "names": widgets.SelectMultiple(options=optimisers, value=selected, description="optimisers", rows=4),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=0, step=0.1, description="lr"),
        "momentum": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="momentum ρ"),
        "beta1": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="β1"),
        "beta2": widgets.SelectionSlider(options=[0.9, 0.99, 0.999, 0.9999], value=0.999, description="β2"),
        "steps": widgets.IntSlider(value=steps, min=10, max=500, step=10, description="steps"),
    }
    return interactive_figure(draw, controls, title="Optimisers side by side on a test function")


def _minimum(function: TestFunction) -> float:
    return float(function(torch.tensor(function.minima, dtype=torch.float64)).min()) if function.minima else 0.0


def trajectory_records(compute, functions: dict, optimisers, steps: int, objective, lr, momentum) -> list:
    """What the widget and its twin show for one setting: ``compute``'s trajectories of every
    optimiser (every 4th step) and :math:`f(x_t) - f^\\star` per step."""
    test_function = functions[objective]
    runs = compute(test_function, list(optimisers), lr=lr, momentum=momentum, betas=(0.9, 0.999), steps=steps)
    minimum, records = _minimum(test_function), []
    (x0, x1), (y0, y1) = test_function.domain
    for name, run in runs.items():
        points = run.points.detach().double()
        inside = ((points[:, 0] - x0) * (points[:, 0] - x1) <= 0) & ((points[:, 1] - y0) * (points[:, 1] - y1) <= 0)
        points = torch.where(inside[:, None], points, torch.nan)  # off the figure: not drawn, as in the widget
        gap = (run.values.detach().double() - minimum).clamp_min(1e-16)
        gap = torch.where(gap < 1e10, gap, torch.nan)
        t = list(range(len(gap)))
        records += [{"panel": "path", "series": name, "x": static.every(points[:, 0], 4),
                     "y": static.every(points[:, 1], 4), "k": static.every(t, 4)},
                    {"panel": "gap", "series": name, "x": static.every(t, 4), "y": static.every(gap, 4)}]
    return records + [{"panel": "caption", "text": f"{test_function.name}: {steps} steps, lr {lr:.3g}, "
                                                   f"momentum ρ {momentum:g}, Adam's β = (0.9, 0.999)"}]


def _backgrounds(functions: dict, resolution: int = 30) -> list:
    """Each function's log10 (f - f*) on a grid over its domain, marked with its name."""
    records = []
    for name, function in functions.items():
        (x0, x1), (y0, y1) = function.domain
        xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
        grid = torch.as_tensor(np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1), dtype=torch.float64)
        gap = (function(grid) - _minimum(function)).clamp_min(1e-12).log10().numpy()
        records.append(static.grid_cells("background", xs, ys, gap) | {"background": name})
    return records


def trajectory_twin(compute, functions: dict, optimisers, lrs=(0.002, 0.005, 0.02, 0.05), momenta=(0.5, 0.9),
                    steps: int = 100):
    """The live figure of :func:`trajectory_explorer` for the static book (:mod:`lecturelib.widgets.static`):
    every optimiser at each function, learning rate and momentum of the grid (Adam's betas at their defaults)."""
    check_callable("compute", compute)
    if not isinstance(functions, dict) or not functions or not all(
            isinstance(f, TestFunction) and f.dim == 2 for f in functions.values()):
        raise TypeError("functions must be a non-empty dict of name -> 2-D lecturelib.optim.TestFunction")
    optimisers = list(optimisers)
    palette = [figures.optimiser_color(name, k) for k, name in enumerate(optimisers)]
    colors = {"field": "series", "type": "nominal", "title": "optimiser",
              "scale": {"domain": optimisers, "range": palette}}
    background = static.heatmap("background", "x₁", "x₂", "log10 (f - f*)", title="Trajectories over the function",
                                width=320, height=320)
    background["transform"].insert(0, {"filter": "datum.background === objective"})
    iterates = static.view("path", {"type": "line", "point": {"size": 12}, "clip": True}, "", "",
                           arrays=("x", "y", "k"), encoding={"color": colors, "order": {"field": "k"}})
    paths = static.overlay(background, iterates)
    gaps = static.view("gap", "line", "step t", "f(x_t) - f* (log)", log_y=True, encoding={"color": colors},
                       title="Distance to the minimum value", width=320, height=320)
    return static.live_twin(functools.partial(trajectory_records, compute, functions, optimisers, steps),
                            {"objective": list(functions), "lr": list(lrs), "momentum": list(momenta)},
                            static.with_caption(static.side_by_side(paths, gaps)), shared=_backgrounds(functions),
                            labels={"objective": "function", "lr": "lr", "momentum": "momentum ρ"},
                            start={"lr": 0.02 if 0.02 in lrs else lrs[0], "momentum": momenta[-1]})
