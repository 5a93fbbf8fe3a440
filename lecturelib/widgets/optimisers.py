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

from .. import plotting
from .._checks import check_callable
from ..optim.functions import TestFunction
from ..plotting import trajectories as figures
from . import interactive_figure

__all__ = ["trajectory_explorer"]


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
