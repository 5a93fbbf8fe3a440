"""The book's two Sphinx extensions in _ext/: hide_answers (no code answers when solutions are
hidden) and stored_runtimes (the run-times table's records), on small hand-made inputs."""

import importlib.util
import json
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from docutils import nodes

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hide_answers, stored_runtimes = _load("hide_answers"), _load("stored_runtimes")


def _cell(*tags):
    cell = nodes.container(classes=["cell"] + [f"tag_{t}" for t in tags])
    cell += nodes.literal_block(text=" ".join(tags) or "plain")
    return cell


def test_only_cells_tagged_answer_or_solution_are_removed():
    section = nodes.section()
    section += [_cell("answer", "hide-input"), _cell("nbval-check-output"), _cell(), _cell("answer"),
                _cell("solution", "hide-cell"), _cell("hide-cell")]
    document = nodes.document(None, None)
    document += section
    assert hide_answers.remove_answer_cells(document) == 3
    kept = [child.astext() for child in section.children]
    assert kept == ["nbval-check-output", "plain", "hide-cell"]


def _stamped_notebook(tmp_path, stamps, error=False):
    cells = []
    for start, end in stamps:
        cell = nbformat.v4.new_code_cell("1")
        cell.metadata["execution"] = {"iopub.execute_input": start, "shell.execute_reply": end}
        cells.append(cell)
    if error:
        cells[-1].outputs = [nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[])]
    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")] + cells), path)
    return path


def test_stored_run_spans_first_cell_start_to_last_cell_end(tmp_path):
    path = _stamped_notebook(tmp_path, [("2026-12-02T12:00:00.500000Z", "2026-12-02T12:00:01Z"),
                                        ("2026-12-02T12:00:02Z", "2026-12-02T12:00:09.250000Z")])
    record = stored_runtimes.stored_run(path)
    assert record["runtime"] == 8.75 and record["method"] == "stored" and record["succeeded"]
    assert record["mtime"] == datetime(2026, 12, 2, 12, 0, 9, 250000, tzinfo=timezone.utc).timestamp()
    failed = stored_runtimes.stored_run(_stamped_notebook(tmp_path, [("2026-12-02T12:00:00Z",
                                                                      "2026-12-02T12:00:01Z")], error=True))
    assert failed["succeeded"] is False


def test_a_notebook_without_timestamps_has_no_stored_run(tmp_path):
    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), path)
    assert stored_runtimes.stored_run(path) is None


def test_cold_run_reports_the_measured_cpu_seconds():
    measurements = {"notebooks": {"book/a/b.ipynb": {"runtime_s": 30.0, "cpu_s": 12.5,
                                                      "measured": "2026-12-02T15:10:18+00:00"}}}
    record = stored_runtimes.cold_run(measurements, "book/a/b.ipynb")
    assert record["runtime"] == 12.5 and record["method"] == "cold run"
    assert record["mtime"] == datetime(2026, 12, 2, 15, 10, 18, tzinfo=timezone.utc).timestamp()
    assert stored_runtimes.cold_run(measurements, "book/a/c.ipynb") is None


def test_every_measured_notebook_exists():
    runtimes = ROOT / "book" / "runtimes.json"
    if runtimes.exists():
        for name in json.loads(runtimes.read_text())["notebooks"]:
            assert (ROOT / name).is_file(), f"book/runtimes.json measures {name}, which is gone"
