"""The student edition (scripts/student_edition.py): every auto-checked exercise's stub fails its
checker with a message that says what to write, and the book's reference answer passes it.

Each exercise runs the cells it needs and no others: the notebook's set-up cell (its imports),
then the answer cell (the reference, or the student edition's stub), then the checker cell as the
student edition has it, in a fresh namespace.
"""

from __future__ import annotations

import ast
import importlib.util
import zipfile
from pathlib import Path

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("student_edition", ROOT / "scripts" / "student_edition.py")
student_edition = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student_edition)


def _exercises():
    """``(notebook path, index of the answer cell)`` for every answer cell of the book."""
    found = []
    for path in student_edition.book_notebooks():
        notebook = nbformat.read(path, as_version=4)
        found += [(path, i) for i, cell in enumerate(notebook.cells) if student_edition.is_answer(cell)]
    return found


EXERCISES = _exercises()
IDS = [f"{path.parent.name}/{path.stem}:{index}" for path, index in EXERCISES]


def _run_exercise(path: Path, index: int, student: bool):
    """Run set-up, answer (or stub) and checker cells; return the checker's ``result``."""
    book = nbformat.read(path, as_version=4)
    notebook = student_edition.student_notebook(path) if student else book
    setup = next(cell for cell in book.cells if cell.cell_type == "code")
    checker = notebook.cells[index + 1]
    assert checker.cell_type == "code" and "result = " in checker.source, "the checker cell follows the answer"
    namespace = {"__name__": "__exercise__"}
    for source in (setup.source, notebook.cells[index].source, checker.source):
        exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102 - the book's own cells
    return namespace["result"]


def test_every_auto_checked_exercise_has_an_answer_cell():
    """19 exercises (15 when the issue was filed, plus the chapters added since), none missed:
    every cell that calls a checker on a function defined in the notebook follows an answer cell."""
    assert len(EXERCISES) >= 19
    for path in student_edition.book_notebooks():
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and "result = " in cell.source and "check_" in cell.source \
                    and not student_edition.is_answer(cell):
                called = cell.source.split("(", 2)[1].split(")")[0]
                defined_here = any(f"def {called}(" in c.source for c in cells)
                if defined_here:
                    assert student_edition.is_answer(cells[i - 1]), f"{path}: cell {i} checks {called}"


@pytest.mark.parametrize(("path", "index"), EXERCISES, ids=IDS)
def test_reference_answer_passes_its_checker(path, index):
    result = _run_exercise(path, index, student=False)
    assert result.passed, result.message


@pytest.mark.parametrize(("path", "index"), EXERCISES, ids=IDS)
def test_stub_fails_its_checker_saying_what_to_write(path, index):
    notebook = nbformat.read(path, as_version=4)
    (function, *_) = student_edition.answer_functions(notebook.cells[index].source)
    label, title = student_edition.find_exercise(notebook, function.name)
    assert label, f"no {{exercise}} in {path} names `{function.name}`"
    result = _run_exercise(path, index, student=True)
    assert not result.passed
    assert "NotImplementedError" in result.message
    assert f"write {function.name} as the exercise '{title}' ({label})" in result.message, result.message


def _answer_bodies(source: str) -> list[str]:
    return [ast.unparse(statement) for function in student_edition.answer_functions(source)
            for statement in function.body]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return out, student_edition.build(out)


def test_student_notebooks_hide_every_answer_and_keep_every_notebook(edition):
    out, _ = edition
    for path in student_edition.book_notebooks():
        book = nbformat.read(path, as_version=4)
        student = nbformat.read(out / path.relative_to(ROOT), as_version=4)
        assert len(student.cells) == len(book.cells)
        for cell, twin in zip(book.cells, student.cells):
            if student_edition.is_answer(cell):
                assert student_edition.STUB_TAG in twin.metadata["tags"]
                assert "hide-input" not in twin.metadata["tags"]
                code = "\n".join(ast.unparse(node) for node in ast.parse(twin.source).body)
                for statement in _answer_bodies(cell.source):
                    assert statement not in code, f"{path}: the stub gives away {statement!r}"
            else:
                assert twin.source == cell.source or "assert result.passed" in cell.source
        checkers = [student.cells[i + 1] for i, c in enumerate(book.cells) if student_edition.is_answer(c)]
        assert all(c.outputs == [] and "assert result.passed" not in c.source for c in checkers)


def test_zip_holds_the_student_notebooks_and_what_they_import(edition):
    out, archive = edition
    with zipfile.ZipFile(archive) as bundle:
        names = set(bundle.namelist())
        for path in student_edition.book_notebooks():
            name = f"training-deep-networks/{path.relative_to(ROOT).as_posix()}"
            assert name in names
            assert bundle.read(name) == (out / path.relative_to(ROOT)).read_bytes()
    assert {"training-deep-networks/lecturelib/__init__.py", "training-deep-networks/requirements.txt",
            "training-deep-networks/pyproject.toml", "training-deep-networks/lecturelib/exercises/__init__.py"} <= names


def test_metadata_stub_overrides_the_generated_one():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f(x):\n    return x\n"),
                                               nbformat.v4.new_code_cell("result = check_f(f)\nassert result.passed")])
    notebook.cells[0].metadata.update(tags=["answer", "hide-input"], student_stub="def f(x):\n    ...\n")
    notebook, _ = student_edition.StubAnswersPreprocessor().preprocess(notebook, {})
    assert notebook.cells[0].source == "def f(x):\n    ...\n"
    assert notebook.cells[1].source == "result = check_f(f)"


def test_an_answer_cell_without_a_function_is_refused():
    with pytest.raises(ValueError, match="must define a function"):
        student_edition.answer_functions("x = 1\n")
