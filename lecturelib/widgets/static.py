r"""Live twins of the widgets for the static book: the same figure, its states computed when the notebook runs.

In JupyterLab a widget calls the chapter's compute function each time a control moves. The
published HTML has no kernel, so its *twin* calls that same function once for every point of a
grid of the widget's settings (the Cartesian product of a few values per control), stores the
results in the page, and lets Vega-Lite, served by the site itself from ``lib/`` (``make
vendor``), show the state the reader's controls select. Nothing is fetched from the network.

``compute(**point)`` returns the records of one state: a list of dicts whose values are strings,
numbers, booleans or 1-D arrays (the arrays of one record have equal lengths; Vega-Lite's
``flatten`` turns them into rows). Each record says which part of the figure it feeds with
``"panel"``, e.g. ``{"panel": "fit", "series": "ReLU", "x": grid, "y": outputs}``. The twin
adds the point's settings to each record; the chart's views filter by panel:

.. code-block:: python

    chart = static.side_by_side(static.view("fit", "line", "input x", "output f(x)"), ...)
    static.live_twin(compute, {"width": [1, 2, 5], "activation": ["relu", "tanh"]}, chart)

Numbers are stored to ``digits`` significant digits to keep the page light.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import uuid

import numpy as np

from .._checks import check_callable, check_int, check_type
from ..plotting import COLORS

__all__ = ["grid_points", "sweep", "live_twin", "LiveTwin", "view", "overlay", "side_by_side", "with_caption",
           "caption_view", "every", "grid_cells", "heatmap", "SCRIPTS", "FILTER_TOLERANCE"]

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier; never fetched
# Served by the site (Makefile `vendor`): html_extra_path copies _vendor/lib to _build/html/lib.
SCRIPTS = ("vega/vega.min.js", "vega-lite/vega-lite.min.js", "vega-embed/vega-embed.min.js")
FILTER_TOLERANCE = 1e-6  # relative: a browser's slider value 0.30000000000000004 selects the state 0.3
# Names a Vega expression cannot use for a parameter (JavaScript's reserved words, and Vega's own).
_RESERVED = frozenset("""break case catch class const continue debugger default delete do else export extends
false finally for function if import in instanceof let new null return super switch this throw true try typeof
var void while with yield datum event item parent shared panel""".split())


def grid_points(settings: dict) -> list[dict]:
    """Every combination of the settings' values, in order (the last setting varies fastest):
    ``{"a": [1, 2], "b": ["x"]} -> [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]``."""
    _check_settings(settings)
    names = list(settings)
    return [dict(zip(names, values)) for values in itertools.product(*(settings[n] for n in names))]


def _check_settings(settings) -> None:
    check_type("settings", settings, dict, "a dict name -> list of values")
    if not settings:
        raise ValueError("settings must name at least one control, got {}")
    for name, values in settings.items():
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
            raise ValueError(f"settings names must be Python identifiers that are not JavaScript words, got {name!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"settings[{name!r}] must be a non-empty list of values, got {values!r}")
        kinds = {_kind(v) for v in values}
        if len(kinds) != 1 or None in kinds:
            raise TypeError(f"settings[{name!r}] must hold only strings, only booleans or only finite numbers, "
                            f"got {list(values)!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"settings[{name!r}] repeats a value: {list(values)!r}")


def _kind(value):
    """'text', 'bool' or 'number' (finite); None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value):
        return "number"
    return None


def _round(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def _clean(value, digits: int):
    """JSON-ready: numpy and torch arrays become lists, floats keep ``digits`` significant digits."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _round(float(value), digits) if math.isfinite(value) else None
    if isinstance(value, str) or value is None:  # None: a value that was not finite
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"record arrays must be 1-D, got shape {array.shape}")
        return [_clean(v, digits) for v in array.tolist()]
    raise TypeError(f"record values must be strings, numbers, booleans or 1-D arrays, got {type(value).__name__}")


def _check_record(record, point) -> None:
    if not isinstance(record, dict) or "panel" not in record:
        raise ValueError(f"compute({point}) must return a list of dicts, each with a 'panel'; got {record!r:.80}")
    clash = set(record) & set(point)
    if clash:
        raise ValueError(f"compute({point}) returned records with keys {sorted(clash)} that are also setting names")
    lengths = {len(v) for v in record.values() if isinstance(v, (list, tuple, np.ndarray)) or hasattr(v, "detach")}
    if len(lengths) > 1:
        raise ValueError(f"the arrays of one record must have equal lengths, got {sorted(lengths)} "
                         f"in panel {record['panel']!r} at {point}")


def sweep(compute, settings: dict, digits: int = 4) -> list[dict]:
    """The records of ``compute(**point)`` at every grid point, each with the point's settings added."""
    check_callable("compute", compute)
    check_int("digits", digits, minimum=2, maximum=17)
    rows = []
    for point in grid_points(settings):
        records = compute(**point)
        if not isinstance(records, list) or not records:
            raise ValueError(f"compute({point}) must return a non-empty list of records, got {type(records).__name__}")
        for record in records:
            _check_record(record, point)
            rows.append({**{k: _clean(v, 17) for k, v in point.items()},  # exact: the controls select by them
                         **{k: _clean(v, digits) for k, v in record.items()}})
    return rows


def _evenly_spaced(values) -> bool:
    steps = np.diff(np.asarray(values, dtype=float))
    return len(values) > 2 and steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-9, atol=0.0)


def _bind(values, label: str) -> dict:
    """A slider for evenly spaced numbers, a checkbox for booleans, otherwise a menu."""
    kind = _kind(values[0])
    if kind == "bool":
        return {"input": "checkbox", "name": label}
    if kind == "number" and _evenly_spaced(values):
        step = float(values[1] - values[0])
        return {"input": "range", "min": float(values[0]), "max": float(values[-1]), "step": step, "name": label}
    labels = [f"{v:g}" if kind == "number" else str(v) for v in values]
    return {"input": "select", "options": [_clean(v, 17) for v in values], "labels": labels, "name": label}


def _selected(settings: dict) -> str:
    """The Vega expression true for the rows of the state the controls select."""
    tests = []
    for name, values in settings.items():
        if _kind(values[0]) == "number":
            tests.append(f"abs(datum.{name} - {name}) <= {FILTER_TOLERANCE} * max(1, abs({name}))")
        else:
            tests.append(f"datum.{name} === {name}")
    return " && ".join(tests)


def twin_spec(rows: list, settings: dict, chart: dict, labels: dict, start: dict) -> dict:
    """The Vega-Lite spec: one bound parameter per setting, the rows, and ``chart`` drawing the selected
    state (and the rows marked ``"shared"``, the same in every state)."""
    params = [{"name": name, "value": _clean(start[name], 17), "bind": _bind(values, labels.get(name, name))}
              for name, values in settings.items()]
    return {"$schema": SCHEMA, "data": {"values": rows}, "params": params,
            "transform": [{"filter": f"datum.shared === true || ({_selected(settings)})"}], **chart,
            "config": {"range": {"category": COLORS}, "view": {"stroke": None},
                       "title": {"fontSize": 13, "anchor": "start"},
                       "axis": {"labelFontSize": 11, "titleFontSize": 12}}}


class LiveTwin:
    """A Vega-Lite figure that shows its notebook's widget states in the static book.

    Displayed, it is HTML: a ``div`` and a loader that fetches the site's Vega scripts once per page,
    relative to the page (``lib_path="../../lib"`` for ``book/<chapter>/<page>.html``), then draws
    the spec. In JupyterLab, where the widget itself works, the scripts are not there and the
    ``div`` says where the figure runs.
    """

    def __init__(self, spec: dict, lib_path: str = "../../lib"):
        self.spec = spec
        self.lib_path = lib_path

    def to_json(self) -> str:
        return json.dumps(self.spec, separators=(",", ":"), allow_nan=False)

    def to_html(self) -> str:
        div = f"lecturelib-twin-{uuid.uuid5(uuid.NAMESPACE_OID, self.to_json()).hex[:12]}"
        sources = json.dumps([f"{self.lib_path}/{script}" for script in SCRIPTS])
        spec = self.to_json().replace("</", "<\\/")
        return (f'<div class="lecturelib-twin" style="overflow-x:auto;max-width:100%">'
                f'<div id="{div}-controls" class="lecturelib-twin-controls"></div><div id="{div}">'
                f"{html.escape('(The live figure: it runs in the published book.)')}</div></div>\n"
                f"<script>{_LOADER}\nlecturelibTwin({json.dumps(div)}, {spec}, {sources});</script>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        # HTML only: the stored notebook keeps the spec once, compactly (JupyterLab has the widget).
        return {"text/html": self.to_html(), "text/plain": "<live figure: Vega-Lite>"}


# Loads the scripts one after the other, once per page, with an AMD loader (require.js) hidden
# while they run: their UMD wrappers would otherwise register anonymous modules instead of globals.
_LOADER = """window.lecturelibTwin = window.lecturelibTwin || function (target, spec, sources) {
  window.lecturelibVega = window.lecturelibVega || sources.reduce(function (ready, src) {
    return ready.then(function () { return new Promise(function (resolve, reject) {
      var script = document.createElement("script"), amd = window.define;
      window.define = undefined;
      script.src = src;
      script.onload = function () { window.define = amd; resolve(); };
      script.onerror = function () { window.define = amd; reject(new Error("cannot load " + src)); };
      document.head.appendChild(script);
    }); });
  }, Promise.resolve());
  window.lecturelibVega.then(function () {
    return vegaEmbed("#" + target, spec, {actions: false, renderer: "svg", bind: "#" + target + "-controls"});
  }).catch(function (error) { console.error("live figure:", error); });
};"""


def live_twin(compute, settings: dict, chart: dict, *, labels: dict | None = None, start: dict | None = None,
              shared=(), digits: int = 4, lib_path: str = "../../lib") -> LiveTwin:
    """The twin of a widget: ``chart`` (a Vega-Lite view, e.g. from :func:`side_by_side`) showing
    ``compute(**point)`` for the point the controls select, over every point of ``settings``.

    ``labels`` names the controls as the widget does (default: the setting names); ``start`` is the
    first state (default: each setting's first value); ``shared`` are records drawn in every state
    (stored once: data points, a background surface).
    The grid has ``prod(len(values))`` points, each computed now: keep it to a few hundred.
    """
    _check_settings(settings)
    check_type("chart", chart, dict, "a Vega-Lite view (dict)")
    labels = dict(labels or {})
    start = {name: values[0] for name, values in settings.items()} | dict(start or {})
    unknown = (set(labels) | set(start)) - set(settings)
    if unknown:
        raise ValueError(f"labels and start name settings {sorted(unknown)} that settings does not have")
    for name, value in start.items():
        if value not in list(settings[name]):
            raise ValueError(f"start[{name!r}] = {value!r} is not among settings[{name!r}] = {list(settings[name])}")
    rows = sweep(compute, settings, digits)
    for record in shared:
        _check_record(record, {})
        rows.append({"shared": True, **{k: _clean(v, digits) for k, v in record.items()}})
    return LiveTwin(twin_spec(rows, settings, chart, labels, start), lib_path)


# Building blocks for the charts: a view draws the records of one panel.

def _axis(field: str, title: str, log: bool, domain) -> dict:
    encoding = {"field": field, "type": "quantitative", "title": title,
                "scale": {"type": "log"} if log else {"zero": False}}
    if domain is not None:
        encoding["scale"]["domain"] = list(domain)
    return encoding


def view(panel: str, mark, x_title: str, y_title: str, *, title=None, color: str | None = "series",
         log_x: bool = False, log_y: bool = False, x_domain=None, y_domain=None, encoding: dict | None = None,
         arrays=("x", "y"), width: int = 320, height: int = 240) -> dict:
    """A view of the records with ``panel == panel``: ``mark`` ("line", "point", "rect", or a mark
    dict) at ``x, y``, coloured by ``color`` (a nominal field; None for the mark's own colour).
    ``title`` may be a string or ``{"expr": ...}`` over the settings; ``encoding`` adds or replaces
    channels (``None`` removes one); ``arrays`` are the fields the panel's records hold as arrays
    (``()`` for scalars)."""
    channels = {"x": _axis("x", x_title, log_x, x_domain), "y": _axis("y", y_title, log_y, y_domain)}
    if color is not None:
        channels["color"] = {"field": color, "type": "nominal", "title": None}
    channels.update(encoding or {})
    channels = {name: channel for name, channel in channels.items() if channel is not None}  # None drops one
    flatten = [{"flatten": list(arrays)}] if arrays else []
    spec = {"transform": [{"filter": {"field": "panel", "equal": panel}}, *flatten], "mark": mark, "encoding": channels,
            "width": width, "height": height}
    return spec | ({"title": title} if title is not None else {})


def overlay(*views: dict, title=None) -> dict:
    """Views drawn on the same axes (their width, height and title come from the first, or ``title``)."""
    first = views[0]
    layers = [{k: v for k, v in one.items() if k not in ("width", "height", "title")} for one in views]
    spec = {"layer": layers, "width": first.get("width", 320), "height": first.get("height", 240)}
    title = first.get("title") if title is None else title
    return spec | ({"title": title} if title is not None else {})


def grid_cells(panel: str, first, second, values) -> dict:
    """A record of a grid's cells for :func:`heatmap`: ``values[i, j]`` at ``(first[i], second[j])``,
    each cell ``2 dx`` by ``2 dy`` around its (evenly spaced) point."""
    first, second, values = np.asarray(first, float), np.asarray(second, float), np.asarray(values, float)
    if values.shape != (len(first), len(second)):
        raise ValueError(f"values must have shape ({len(first)}, {len(second)}), got {values.shape}")
    i, j = np.meshgrid(np.arange(len(first)), np.arange(len(second)), indexing="ij")
    return {"panel": panel, "x": first[i].ravel(), "y": second[j].ravel(), "z": values.ravel(),
            "dx": float(np.ptp(first)) / max(len(first) - 1, 1) / 2,
            "dy": float(np.ptp(second)) / max(len(second) - 1, 1) / 2}


def heatmap(panel: str, x_title: str, y_title: str, z_title: str, *, log: bool = False, **options) -> dict:
    """A view of :func:`grid_cells` records, coloured by ``z`` (viridis; ``log`` for a log scale)."""
    colour = {"field": "z", "type": "quantitative", "title": z_title,
              "scale": {"scheme": "viridis", **({"type": "log"} if log else {})}}
    tight = {"zero": False, "nice": False}
    encoding = {"x": {"field": "left", "type": "quantitative", "title": x_title, "scale": tight},
                "x2": {"field": "right"},
                "y": {"field": "bottom", "type": "quantitative", "title": y_title, "scale": tight},
                "y2": {"field": "top"}, "color": colour} | options.pop("encoding", {})
    spec = view(panel, "rect", x_title, y_title, color=None, arrays=("x", "y", "z"), encoding=encoding, **options)
    edges = {"left": "datum.x - datum.dx", "right": "datum.x + datum.dx",
             "bottom": "datum.y - datum.dy", "top": "datum.y + datum.dy"}
    spec["transform"] += [{"calculate": formula, "as": name} for name, formula in edges.items()]
    return spec


def every(values, step: int) -> list:
    """Every ``step``-th value of a 1-D array, always keeping the last (lighter curves for the page)."""
    values = _clean(values, 17)
    return values[::step] + ([values[-1]] if (len(values) - 1) % step else [])


def side_by_side(*views: dict) -> dict:
    """Views next to each other, each with its own scales."""
    return {"hconcat": list(views), "resolve": {"scale": {"color": "independent"}}}


def caption_view(width: int = 640) -> dict:
    """One line of text per state, from the records ``{"panel": "caption", "text": ...}``."""
    return {"transform": [{"filter": {"field": "panel", "equal": "caption"}}],
            "mark": {"type": "text", "align": "left", "fontSize": 13, "fontWeight": "bold"},
            "encoding": {"text": {"field": "text"}, "x": {"value": 0}, "y": {"value": 10}},
            "width": width, "height": 20}


def with_caption(chart: dict, width: int = 640) -> dict:
    """``chart`` under the state's caption line (see :func:`caption_view`)."""
    return {"vconcat": [caption_view(width), chart]}
