import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import pytest  # noqa: E402

from lecturelib.widgets import interactive_figure  # noqa: E402


def test_interactive_figure_draws_once_and_on_every_change():
    calls = []
    slider = widgets.IntSlider(value=2, min=1, max=5)
    box = interactive_figure(lambda depth: calls.append(depth), {"depth": slider}, title="Depth")
    assert calls == [2]
    slider.value = 4
    assert calls == [2, 4]
    assert isinstance(box, widgets.VBox) and isinstance(box.children[-1], widgets.Output)


def test_interactive_figure_rejects_bad_arguments():
    with pytest.raises(TypeError, match="draw must be callable"):
        interactive_figure(None, {"a": widgets.IntSlider()})
    with pytest.raises(ValueError, match="non-empty dict"):
        interactive_figure(print, {})
    with pytest.raises(TypeError, match="control 'a'"):
        interactive_figure(print, {"a": 3})


def test_interactive_figure_gives_every_label_the_width_it_needs():
    # ipywidgets cuts descriptions at a fixed width: "direction seed" showed as "direction ..."
    controls = {"seed": widgets.IntSlider(description="direction seed"),
                "kind": widgets.Dropdown(options=["a"], description="regulariser"),
                "arch": widgets.ToggleButtons(options=["plain", "residual"])}
    interactive_figure(lambda **values: None, controls)
    assert all(control.style.description_width == "initial" for control in controls.values())
