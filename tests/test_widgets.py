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
