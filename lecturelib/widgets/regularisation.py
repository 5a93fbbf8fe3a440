r"""The regularisation chapter's widget: pick a regulariser and its strength, and see the fit of the 1-D
regression and the norm of the weights it ends with.

:func:`regulariser_widget` redraws the runs it is handed
(:func:`lecturelib.experiments.regularisation.ensembles.regulariser_grid`); nothing is trained on
interaction.
"""

from __future__ import annotations

import functools

from .. import plotting
from ..plotting.regularisation import REGULARISER_NAMES, draw_regularised_fit, draw_weight_norms
from . import interactive_figure, static

__all__ = ["regulariser_widget", "regulariser_twin", "regulariser_records"]


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


def _levels(grid: dict) -> dict:
    """``{kind: sorted strengths}`` for every regulariser of ``grid`` but "none"."""
    kinds = [kind for kind in REGULARISER_NAMES if kind != "none" and any(k == kind for k, _ in grid)]
    return {kind: sorted(s for k, s in grid if k == kind) for kind in kinds}


def regulariser_records(grid: dict, data, kind, level) -> list:
    """What the widget and its twin show for one regulariser and strength: the fit against the
    unregularised one over the data, and the weight norm at every strength of that regulariser."""
    strengths, reference = _levels(grid), grid[("none", 0.0)]
    name, strength_name = REGULARISER_NAMES[kind]
    result = reference if kind == "none" else grid[(kind, strengths[kind][level])]
    records = [{"panel": "test", "series": "test data", "x": data.X_test[:, 0], "y": data.y_test[:, 0]},
               {"panel": "train", "series": "training data", "x": data.X_train[:, 0], "y": data.y_train[:, 0]},
               {"panel": "fit", "series": "no regulariser", "x": static.every(reference["grid"], 2),
                "y": static.every(reference["prediction"], 2)}]
    if kind != "none":
        records.append({"panel": "fit", "series": "regularised fit", "x": static.every(result["grid"], 2),
                        "y": static.every(result["prediction"], 2)})
    values = [0.0] if kind == "none" else strengths[kind]
    norms = [reference["weight_norm"]] if kind == "none" else [grid[(kind, s)]["weight_norm"] for s in values]
    records += [{"panel": "norms", "series": "selected" if k == (0 if kind == "none" else level) else "other",
                 "strength": f"{s:g}", "y": n} for k, (s, n) in enumerate(zip(values, norms))]
    what = name if kind == "none" else f"{name}, {strength_name} {strengths[kind][level]:g}"
    return records + [{"panel": "caption", "text": f"{what}: train MSE {result['train_mse']:.3f}, test "
                                                   f"{result['test_mse']:.3f}, ||θ|| = {result['weight_norm']:.3g} "
                                                   f"({result.get('zero_weights', 0)} weights exactly 0)"}]


def regulariser_twin(grid: dict, data):
    """The live figure of :func:`regulariser_widget` for the static book (:mod:`lecturelib.widgets.static`)."""
    if not isinstance(grid, dict) or ("none", 0.0) not in grid:
        raise ValueError("grid must be a dict (kind, strength) -> regulariser_grid entry, with ('none', 0.0)")
    strengths = _levels(grid)
    levels = {len(values) for values in strengths.values()}
    if not strengths or len(levels) != 1:
        raise ValueError("grid must hold the same number of strengths for every regulariser")
    count = levels.pop()
    fit = static.overlay(
        static.view("test", {"type": "point", "size": 10, "opacity": 0.5}, "input x", "output m(x; θ)",
                    title="The fit (dashed: no regulariser)"),
        static.view("train", {"type": "point", "filled": True, "color": "black"}, "input x", "output m(x; θ)",
                    color=None),
        static.view("fit", "line", "input x", "output m(x; θ)",
                    encoding={"strokeDash": {"field": "series", "type": "nominal", "legend": None}}))
    bars = static.view("norms", "bar", "", "weight norm ||θ||", arrays=(), title="Weight norm at each strength",
                       encoding={"x": {"field": "strength", "type": "ordinal", "sort": None, "title": "strength"},
                                 "color": {"field": "series", "type": "nominal", "legend": None,
                                           "scale": {"domain": ["other", "selected"],
                                                     "range": [plotting.color_for(0), plotting.color_for(3)]}}})
    return static.live_twin(functools.partial(regulariser_records, grid, data),
                            {"kind": ["none", *strengths], "level": list(range(count))},
                            static.with_caption(static.side_by_side(fit, bars)),
                            labels={"kind": "regulariser", "level": "strength"},
                            start={"kind": next(iter(strengths)), "level": min(1, count - 1)})
