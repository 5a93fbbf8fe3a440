"""Build the student edition: every notebook with its exercises' answers replaced by stubs.

    python scripts/student_edition.py [--out _build/student]

A code cell tagged ``answer`` holds the reference answer of an auto-checked exercise; the next
code cell calls its checker from ``lecturelib.exercises``. In the student edition

* the answer cell becomes a stub (tag ``exercise-stub``): the same imports and function
  signatures, each body raising ``NotImplementedError`` with a message that names the exercise,
  so the checker below reports "Not yet: ... your function raised NotImplementedError: ..." until
  the reader writes the function. A cell's ``metadata["student_stub"]`` (source text) overrides
  the generated stub;
* the checker cell loses its stored output and its ``assert result.passed`` line, so "Run all"
  prints every verdict instead of stopping at the first unsolved exercise;
* every other cell, output included, is as in the book.

The notebooks go to ``<out>/book/<chapter>/``, and ``<out>/student-notebooks.zip`` bundles them
with ``lecturelib`` (the package they import), ``pyproject.toml`` and ``requirements.txt``, so the
zip that the HTML book serves runs on its own (``pip install -r requirements.txt -e .``).
The rewriting is done by nbconvert preprocessors on nbformat notebooks.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import zipfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parents[1]
ANSWER_TAG, STUB_TAG = "answer", "exercise-stub"
ZIP_NAME = "student-notebooks.zip"
EXERCISE = re.compile(r"^`{3,}\{exercise\}[ \t]*(?P<title>[^\n]*)\n:label:[ \t]*(?P<label>\S+)", re.M)
ASSERT_PASSED = re.compile(r"^assert result\.passed\b.*\n?", re.M)
PACKAGE_FILES = ("pyproject.toml", "requirements.txt")


def is_answer(cell) -> bool:
    return cell.cell_type == "code" and ANSWER_TAG in cell.metadata.get("tags", [])


def answer_functions(source: str) -> list[ast.FunctionDef]:
    """The top-level functions an answer cell defines (an answer defines at least one)."""
    functions = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    if not functions:
        raise ValueError(f"an answer cell must define a function, got:\n{source}")
    return functions


def find_exercise(notebook, name: str) -> tuple[str, str]:
    """``(label, title)`` of the ``{exercise}`` whose text names the function ``name`` in code
    (`` `name(`` or `` `name` ``); ``("", "")`` when no exercise does."""
    mention = re.compile(rf"`{re.escape(name)}[(`]")
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for match in EXERCISE.finditer(cell.source):
            body = cell.source[match.end():].split("\n````", 1)[0]
            if mention.search(body):
                return match["label"], match["title"].strip()
    return "", ""


def stub_message(name: str, label: str, title: str) -> str:
    """What the stub raises: which function to write and where the exercise is."""
    where = f"the exercise '{title}' ({label})" if label else "its exercise"
    return f"write {name} as {where} asks, replacing this stub; then run the checker cell below"


def stub_source(source: str, notebook) -> str:
    """The answer cell's imports and function signatures, each body a ``NotImplementedError``."""
    tree = ast.parse(source)
    lines = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    for function in answer_functions(source):
        label, title = find_exercise(notebook, function.name)
        message = stub_message(function.name, label, title)
        lines.append(f"def {function.name}({ast.unparse(function.args)}):\n"
                     f"    # Your code here: replace the next line.\n"
                     f"    raise NotImplementedError({message!r})")
    return "\n\n\n".join(lines) + "\n"


class StubAnswersPreprocessor(Preprocessor):
    """Replace every ``answer`` cell by its stub (or its ``student_stub`` metadata) and clear the
    output and the pass assertion of the checker cell that follows it."""

    def preprocess(self, nb, resources):
        after_answer = False
        for cell in nb.cells:
            if is_answer(cell):
                cell.source = cell.metadata.pop("student_stub", None) or stub_source(cell.source, nb)
                tags = [t for t in cell.metadata.get("tags", []) if t not in (ANSWER_TAG, "hide-input")]
                cell.metadata["tags"] = tags + [STUB_TAG]
                cell.outputs, cell.execution_count = [], None
                after_answer = True
            elif after_answer and cell.cell_type == "code":
                cell.source = ASSERT_PASSED.sub("", cell.source).rstrip("\n")
                cell.outputs, cell.execution_count = [], None
                after_answer = False
        return nb, resources


def student_notebook(path: Path):
    """The student edition of one notebook (an nbformat notebook; the file is not changed)."""
    notebook = nbformat.read(path, as_version=4)
    notebook, _ = StubAnswersPreprocessor().preprocess(notebook, {})
    return notebook


def book_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def package_files(root: Path = ROOT) -> list[Path]:
    """What the zip needs besides the notebooks to run them: lecturelib's sources and the pins."""
    sources = [p for p in (root / "lecturelib").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(sources) + [root / name for name in PACKAGE_FILES]


def build(out: Path, root: Path = ROOT) -> Path:
    """Write every student notebook under ``out/book/`` and the zip; return the zip's path."""
    written = []
    for path in book_notebooks(root):
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_notebook(path), target)
        written.append(target)
    archive = out / ZIP_NAME
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for target in written:
            bundle.write(target, Path("training-deep-networks") / target.relative_to(out))
        for path in package_files(root):
            bundle.write(path, Path("training-deep-networks") / path.relative_to(root))
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args()
    archive = build(args.out)
    stubs = sum(1 for p in (args.out / "book").rglob("*.ipynb")
                for c in nbformat.read(p, as_version=4).cells if STUB_TAG in c.metadata.get("tags", []))
    print(f"student edition: {stubs} exercise stubs in {len(book_notebooks())} notebooks, {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
