"""lecturelib.widgets.static: the live twins' states equal the compute function's outputs at every
grid point, the controls select exactly one state, and bad arguments are refused by name."""

import itertools
import json
import math
import re

import numpy as np
import pytest
import torch

from lecturelib.widgets import static


def _compute(width, activation, flag):
    """A compute function whose every output depends on every setting."""
    x = np.linspace(-1.0, 1.0, 7)
    scale = width * (2.0 if flag else 1.0)
    y = scale * (np.tanh(x) if activation == "tanh" else np.maximum(x, 0.0)) + 1 / 3
    return [{"panel": "fit", "series": activation, "x": x, "y": y},
            {"panel": "caption", "text": f"{activation} at width {width}, flag {flag}"}]


SETTINGS = {"width": [1, 2, 3], "activation": ["relu", "tanh"], "flag": [False, True]}


def _state(rows, point):
    """The rows a reader sees at ``point``: what the spec's filter keeps, evaluated here in Python
    with the same rule (numbers within the relative tolerance, everything else equal)."""
    def selected(row):
        for name, value in point.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if abs(row[name] - value) > static.FILTER_TOLERANCE * max(1, abs(value)):
                    return False
            elif row[name] != value:
                return False
        return True
    return [{k: v for k, v in row.items() if k not in point} for row in rows if row.get("shared") or selected(row)]


def test_grid_points_is_the_cartesian_product_with_the_last_setting_fastest():
    points = static.grid_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert points == [{"a": a, "b": b} for a, b in itertools.product([1, 2], ["x", "y", "z"])]


def test_every_state_equals_the_compute_function_at_its_point():
    twin = static.live_twin(_compute, SETTINGS, static.view("fit", "line", "x", "y"))
    rows = twin.spec["data"]["values"]
    for point in static.grid_points(SETTINGS):
        expected = _compute(**point)
        state = _state(rows, point)
        assert len(state) == len(expected)
        for got, want in zip(state, expected):
            assert got.keys() == want.keys()
            for key, value in want.items():
                if isinstance(value, np.ndarray):
                    # stored to 4 significant digits: relative error below 5e-4
                    np.testing.assert_allclose(got[key], value, rtol=5e-4, atol=1e-12)
                else:
                    assert got[key] == value


def test_states_differ_so_moving_a_control_changes_the_figure():
    rows = static.sweep(_compute, SETTINGS)
    states = [json.dumps(_state(rows, point)) for point in static.grid_points(SETTINGS)]
    assert len(set(states)) == len(states)


def test_numbers_keep_the_requested_significant_digits_and_settings_stay_exact():
    rows = static.sweep(lambda scale: [{"panel": "p", "y": [scale / 3]}], {"scale": [0.04472135955]}, digits=3)
    assert rows[0]["y"] == [0.0149]
    assert rows[0]["scale"] == 0.04472135955  # a control selects by it: never rounded


def test_non_finite_values_become_null_and_tensors_are_accepted():
    rows = static.sweep(lambda a: [{"panel": "p", "y": torch.tensor([1.0, math.nan, math.inf])}], {"a": ["x"]})
    assert rows[0]["y"] == [1.0, None, None]


def test_controls_sliders_for_even_steps_menus_otherwise_checkboxes_for_booleans():
    twin = static.live_twin(_compute, SETTINGS, {"mark": "line"}, labels={"width": "layer width"},
                            start={"width": 2})
    params = {p["name"]: p for p in twin.spec["params"]}
    assert params["width"]["bind"] == {"input": "range", "min": 1.0, "max": 3.0, "step": 1.0, "name": "layer width"}
    assert params["width"]["value"] == 2
    assert params["activation"]["bind"]["input"] == "select"
    assert params["activation"]["bind"]["options"] == ["relu", "tanh"]
    assert params["flag"]["bind"]["input"] == "checkbox" and params["flag"]["value"] is False
    uneven = static._bind([1, 2, 5, 10], "width")
    assert uneven["input"] == "select" and uneven["labels"] == ["1", "2", "5", "10"]


def test_the_filter_names_every_setting_and_compares_numbers_with_a_tolerance():
    twin = static.live_twin(_compute, SETTINGS, {"mark": "line"})
    expression = twin.spec["transform"][0]["filter"]
    assert "datum.shared === true" in expression
    assert "abs(datum.width - width)" in expression
    assert "datum.activation === activation" in expression and "datum.flag === flag" in expression


def test_shared_records_are_stored_once_without_settings():
    twin = static.live_twin(_compute, SETTINGS, {"mark": "line"},
                            shared=[{"panel": "data", "x": [0.0, 1.0], "y": [1.0, 2.0]}])
    shared = [row for row in twin.spec["data"]["values"] if row.get("shared")]
    assert shared == [{"shared": True, "panel": "data", "x": [0.0, 1.0], "y": [1.0, 2.0]}]


def test_html_loads_the_site_scripts_relative_to_the_page_and_holds_the_spec():
    twin = static.live_twin(lambda a: [{"panel": "p", "text": "</script><b>"}], {"a": ["x", "y"]}, {"mark": "text"})
    page = twin.to_html()
    assert json.dumps([f"../../lib/{s}" for s in static.SCRIPTS]) in page
    assert "http" not in page.replace(static.SCHEMA, "")  # nothing from the network
    assert page.count("</script>") == 1  # the text cannot close the script early
    spec = json.loads(re.search(r"lecturelibTwin\(\"[^\"]+\", (.*), \[", page, re.S).group(1).replace("<\\/", "</"))
    assert spec == twin.spec
    assert set(twin._repr_mimebundle_()) == {"text/html", "text/plain"}


def test_grid_cells_tile_the_grid_around_each_point():
    cells = static.grid_cells("plane", [0.0, 1.0, 2.0], [10.0, 20.0], np.arange(6.0).reshape(3, 2))
    expected = [(a, b, 2 * i + j) for i, a in enumerate([0.0, 1.0, 2.0]) for j, b in enumerate([10.0, 20.0])]
    assert list(zip(cells["x"], cells["y"], cells["z"])) == expected
    assert cells["dx"] == 0.5 and cells["dy"] == 5.0
    with pytest.raises(ValueError, match="values must have shape"):
        static.grid_cells("plane", [0.0, 1.0], [0.0], np.zeros((1, 2)))


def test_every_keeps_the_last_value():
    assert static.every(list(range(10)), 4) == [0, 4, 8, 9]
    assert static.every(list(range(9)), 4) == [0, 4, 8]


def test_view_filters_its_panel_and_flattens_its_arrays():
    spec = static.view("fit", "line", "x", "y", encoding={"color": None})
    assert spec["transform"] == [{"filter": {"field": "panel", "equal": "fit"}}, {"flatten": ["x", "y"]}]
    assert "color" not in spec["encoding"]
    assert static.view("marker", "point", "x", "y", arrays=())["transform"] == [
        {"filter": {"field": "panel", "equal": "marker"}}]


@pytest.mark.parametrize("settings, error, match", [
    ({}, ValueError, "at least one control"),
    ([1, 2], TypeError, "settings must be"),
    ({"a": []}, ValueError, r"settings\['a'\] must be a non-empty list"),
    ({"a": "abc"}, ValueError, r"settings\['a'\] must be a non-empty list"),
    ({"a": [1, "x"]}, TypeError, "only strings, only booleans or only finite numbers"),
    ({"a": [1.0, math.nan]}, TypeError, "only finite numbers"),
    ({"a": [1, 1]}, ValueError, "repeats a value"),
    ({"function": [1, 2]}, ValueError, "not JavaScript words"),
    ({"two words": [1, 2]}, ValueError, "Python identifiers"),
])
def test_bad_settings_are_refused_by_name(settings, error, match):
    with pytest.raises(error, match=match):
        static.live_twin(_compute, settings, {"mark": "line"})


def test_bad_compute_results_and_arguments_are_refused():
    chart = {"mark": "line"}
    with pytest.raises(TypeError, match="compute must be callable"):
        static.sweep(None, {"a": [1]})
    with pytest.raises(ValueError, match="non-empty list of records"):
        static.sweep(lambda a: {"panel": "p"}, {"a": [1]})
    with pytest.raises(ValueError, match="each with a 'panel'"):
        static.sweep(lambda a: [{"x": [1]}], {"a": [1]})
    with pytest.raises(ValueError, match="also setting names"):
        static.sweep(lambda a: [{"panel": "p", "a": 3}], {"a": [1]})
    with pytest.raises(ValueError, match="equal lengths"):
        static.sweep(lambda a: [{"panel": "p", "x": [1, 2], "y": [1]}], {"a": [1]})
    with pytest.raises(ValueError, match="must be 1-D"):
        static.sweep(lambda a: [{"panel": "p", "x": np.zeros((2, 2))}], {"a": [1]})
    with pytest.raises(TypeError, match="record values must be"):
        static.sweep(lambda a: [{"panel": "p", "x": object()}], {"a": [1]})
    with pytest.raises(ValueError, match="digits"):
        static.sweep(_compute, SETTINGS, digits=1)
    with pytest.raises(ValueError, match=r"start\['width'\] = 7 is not among"):
        static.live_twin(_compute, SETTINGS, chart, start={"width": 7})
    with pytest.raises(ValueError, match="settings .'depth'. that settings does not have"):
        static.live_twin(_compute, SETTINGS, chart, labels={"depth": "depth"})
    with pytest.raises(TypeError, match="chart must be"):
        static.live_twin(_compute, SETTINGS, "line")
