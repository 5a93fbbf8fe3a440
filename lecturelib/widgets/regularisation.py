r"""The regularisation chapter's widget: pick a regulariser and its strength, and see the fit of the 1-D
regression and the norm of the weights it ends with.

:func:`regulariser_widget` redraws the runs it is handed
(:func:`lecturelib.experiments.regularisation.ensembles.regulariser_grid`); nothing is trained on
interaction.
"""

from __future__ import annotations

from .. import plotting
from ..plotting.regularisation import REGULARISER_NAMES, draw_regularised_fit, draw_weight_norms
from . import interactive_figure

__all__ = ["regulariser_widget"]


def regulariser_widget(grid: dict, data):
    """A menu of regularisers and a slider over their strengths (weakest to strongest) above two panels:
    the selected fit against the unregularised one (dashed), with its training and test MSE in the title,
    and the weight norm at every strength of the selected regulariser.

    ``grid`` maps ``(kind, strength)`` to an entry of ``regulariser_grid`` and must hold ``("none", 0.0)``
    and the same number of strengths for every other regulariser; ``data`` is the regression split.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(grid, dict) or ("none", 0.0) not in grid:
        raise ValueError("grid must be a dict (kind, strength) -> regulariser_grid entry, with ('none', 0.0)")
    kinds = [kind for kind in REGULARISER_NAMES if kind != "none" and any(k == kind for k, _ in grid)]
    strengths = {kind: sorted(s for k, s in grid if k == kind) for kind in kinds}
    counts = {len(values) for values in strengths.values()}
    if not kinds or len(counts) != 1:
        raise ValueError(f"grid must hold the same number of strengths for every regulariser, got "
                         f"{ {kind: len(values) for kind, values in strengths.items()} }")
    levels = counts.pop()
    reference = grid[("none", 0.0)]

    def draw(kind, level):
        name, strength_name = REGULARISER_NAMES[kind]
        result = reference if kind == "none" else grid[(kind, strengths[kind][level])]
        fig, (left, right) = plotting.subplots(1, 2, width=10, height=3.6)
        what = name if kind == "none" else f"{name}, {strength_name} {strengths[kind][level]:g}"
        draw_regularised_fit(left, result, data, None if kind == "none" else reference,
                             f"{what}: train MSE {result['train_mse']:.3f}, test {result['test_mse']:.3f}")
        if kind == "none":
            draw_weight_norms(right, [0.0], [reference["weight_norm"]], 0, None, "strength",
                              "pick a regulariser to compare")
        else:
            norms = [grid[(kind, s)]["weight_norm"] for s in strengths[kind]]
            draw_weight_norms(right, strengths[kind], norms, level, reference["weight_norm"], strength_name,
                              f"||θ|| = {result['weight_norm']:.3g} ({result.get('zero_weights', 0)} weights exactly 0)")
        plt.show()

    controls = {
        "kind": widgets.Dropdown(options=[(REGULARISER_NAMES[k][0], k) for k in ["none", *kinds]],
                                 value=kinds[0], description="regulariser"),
        "level": widgets.IntSlider(value=min(1, levels - 1), min=0, max=levels - 1,
                                   description="strength", continuous_update=False),
    }
    return interactive_figure(draw, controls, title="Regularisers on the 1-D regression: the fit and the weight norm")
