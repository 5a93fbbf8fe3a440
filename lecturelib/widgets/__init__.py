"""ipywidgets builders for the chapters' interactive figures.

:func:`interactive_figure` wires controls to a plotting function and redraws into one output
area. In the published (static) book the widget shows its first state; in JupyterLab it
responds to the controls. Its live twin for the static book, the same figure computed over a
grid of the settings, is built with :mod:`lecturelib.widgets.static`. Chapter-specific builders live in submodules named after the chapter,
e.g. :mod:`lecturelib.widgets.activations`.
"""

from __future__ import annotations

__all__ = ["interactive_figure"]


def _show_whole_label(control) -> None:
    """Give ``control``'s description the width it needs: ipywidgets cuts labels at a fixed width
    ("direction seed" shows as "direction ...")."""
    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width"):
        style.description_width = "initial"


def interactive_figure(draw, controls: dict, title: str | None = None):
    """A ``VBox`` of ``controls`` (name -> ipywidget) above an output that shows ``draw(**values)``.

    ``draw`` must create and show a matplotlib figure for the given control values. It runs
    once immediately and again whenever a control changes.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not isinstance(controls, dict) or not controls:
        raise ValueError("controls must be a non-empty dict of name -> ipywidget")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(control).__name__}")
    output = widgets.Output()

    def redraw(_change=None):
        with output:
            output.clear_output(wait=True)
            draw(**{name: control.value for name, control in controls.items()})
            plt.show()

    for control in controls.values():
        _show_whole_label(control)
        control.observe(redraw, names="value")
    redraw()
    header = [widgets.HTML(f"<b>{title}</b>")] if title else []
    return widgets.VBox(header + [widgets.HBox(list(controls.values())), output])
