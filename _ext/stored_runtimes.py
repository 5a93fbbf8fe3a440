"""Sphinx extension: myst-nb's ``{nb-exec-table}`` lists each notebook's measured run time.

The book's notebooks are executed and stored by ``scripts/execute_notebooks.py``, not by the
build: with ``execute_notebooks: "off"`` (``make test-book``) myst-nb has no execution data and
its table has no rows, and with ``cache`` it has data only for the notebooks the build ran,
which may have loaded their trained models from a cache. This extension gives myst-nb, for every
notebook, in order of preference:

1. the cold run measured by ``scripts/measure_runtimes.py`` (``book/runtimes.json``: an empty
   model cache, so every model is trained, as on a reader's first run), method ``cold run``,
   run time the kernel's CPU seconds: the notebooks run on one thread, so on an unloaded machine
   that is their wall time, and it is not inflated when the measuring machine is busy;
2. otherwise the run that stored the notebook, from its cells' execution timestamps
   (``metadata.execution``, written by nbclient), method ``stored``:
   last cell's ``shell.execute_reply`` - first cell's ``iopub.execute_input``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import nbformat
from myst_nb.sphinx_ import NbMetadataCollector

START, END = "iopub.execute_input", "shell.execute_reply"


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stored_run(path: Path) -> dict | None:
    """myst-nb's execution record of the stored run of the notebook at ``path``, or ``None``
    when no code cell carries execution timestamps."""
    notebook = nbformat.read(path, as_version=4)
    stamps = [cell.metadata["execution"] for cell in notebook.cells
              if cell.cell_type == "code" and START in cell.metadata.get("execution", {})
              and END in cell.metadata["execution"]]
    if not stamps:
        return None
    start, end = _timestamp(stamps[0][START]), _timestamp(stamps[-1][END])
    failed = any(output.get("output_type") == "error" for cell in notebook.cells
                 if cell.cell_type == "code" for output in cell.outputs)
    return {"mtime": end.timestamp(), "runtime": (end - start).total_seconds(), "method": "stored",
            "succeeded": not failed, "error": "an error output is stored" if failed else None,
            "traceback": None}


def cold_run(measurements: dict, name: str) -> dict | None:
    """myst-nb's execution record of the cold run of notebook ``name`` (``book/x.ipynb``) in the
    contents of ``book/runtimes.json``, or ``None`` when it was not measured."""
    run = measurements.get("notebooks", {}).get(name)
    if run is None:
        return None
    measured = datetime.fromisoformat(run["measured"])
    return {"mtime": measured.timestamp(), "runtime": run["cpu_s"], "method": "cold run",
            "succeeded": True, "error": None, "traceback": None}


def _add_run(app, doctree) -> None:
    env = app.env
    path = Path(env.doc2path(env.docname))
    if path.suffix != ".ipynb":
        return
    measurements = Path(app.srcdir) / app.config.stored_runtimes_file
    record = None
    if measurements.is_file():
        record = cold_run(json.loads(measurements.read_text()), path.relative_to(app.srcdir).as_posix())
    if record is None and not NbMetadataCollector.get_exec_data(env, env.docname):
        record = stored_run(path)
    if record is not None:
        NbMetadataCollector.set_exec_data(env, env.docname, record)


def setup(app):
    app.add_config_value("stored_runtimes_file", "book/runtimes.json", "env")
    app.connect("doctree-read", _add_run)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
