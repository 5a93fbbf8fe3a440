"""The floors of lecturelib (DESIGN.md, CONTRIBUTING.md), read from the source with ``ast``:
imports point down only, lazily or not; widgets and exercises never train or cache; analysis
never caches, draws or offers controls; no module passes 450 lines; notebooks train cached runs
through ``lecturelib.experiments`` or ``cache.RunSpec``, never through hand-written configs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lecturelib"

# floor of each top-level name under lecturelib; a package's submodules share its floor
FLOORS = {
    "_checks": 1, "device": 1, "storage": 1,
    "data": 2, "params": 2, "losses": 2,
    "models": 3, "norm": 3,
    "train": 4, "optim": 4,
    "backprop": 5, "init": 5, "lipschitz": 5, "conditioning": 5, "piecewise": 5, "smoothness": 5,
    "connectivity": 5, "landscape": 5, "hessian": 5, "regularization": 5, "topology": 5, "convex": 5,
    "cache": 6,
    "experiments": 7,
    "plotting": 8,
    "widgets": 9, "exercises": 9,
}
# besides pointing down, what a floor may never import (the rules, by top-level name)
FORBIDDEN = {
    5: {"cache", "experiments", "plotting", "widgets", "exercises"},
    8: {"train", "cache", "experiments", "widgets", "exercises"},
    9: {"train", "cache", "experiments"},
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        name = ".".join(("lecturelib",) + (parts[:-1] if parts[-1] == "__init__" else parts))
        yield name, path


def _top(module: str) -> str:
    return module.split(".")[1]


def _imports(module: str, path: Path):
    """(imported lecturelib module, line, inside a function?) for every import in ``path``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    lazy_lines = {node.lineno for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "lecturelib":
                continue
            targets = [base] if base != "lecturelib" else [f"lecturelib.{alias.name}" for alias in node.names]
            if base != "lecturelib" and node.module is None:  # from . import storage
                targets = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith("lecturelib.")]
        else:
            continue
        for target in targets:
            if target.count(".") >= 1 and target.split(".")[1] != "__version__":
                yield target, node.lineno, node.lineno in lazy_lines


MODULES = list(_modules())


def test_every_module_has_a_floor():
    unknown = sorted({_top(name) for name, _ in MODULES} - set(FLOORS))
    assert not unknown, f"modules without a floor in DESIGN.md: {unknown}"


@pytest.mark.parametrize("module, path", MODULES, ids=[name for name, _ in MODULES])
def test_imports_point_down_and_keep_the_floor_rules(module, path):
    floor = FLOORS.get(_top(module))
    if floor is None:
        pytest.skip(f"{module} has no floor (test_every_module_has_a_floor reports it)")
    problems = []
    for target, line, lazy in _imports(module, path):
        top = _top(target)
        if top not in FLOORS or top == _top(module):
            continue
        if FLOORS[top] > floor:
            problems.append(f"line {line}: imports {target} (floor {FLOORS[top]}) from floor {floor}")
        if top in FORBIDDEN.get(floor, ()):
            problems.append(f"line {line}: floor {floor} may not import {target}")
        if lazy:
            problems.append(f"line {line}: imports {target} inside a function; import it at the top")
    assert not problems, f"{module}:\n" + "\n".join(problems)


@pytest.mark.parametrize("module, path", MODULES, ids=[name for name, _ in MODULES])
def test_no_module_passes_450_lines(module, path):
    lines = len(path.read_text().splitlines())
    assert lines <= 450, f"{module} has {lines} lines; split it by idea (DESIGN.md: ~400)"


NOTEBOOKS = sorted((ROOT / "book").glob("*/*.ipynb"))


def _code_cells(notebook: Path):
    return ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
            if cell["cell_type"] == "code"]


def test_notebooks_train_cached_runs_through_run_specs():
    offenders = [nb.relative_to(ROOT).as_posix() for nb in NOTEBOOKS
                 if any("cached_fit" in code for code in _code_cells(nb))]
    assert not offenders, f"these notebooks call cached_fit with a hand-written config: {offenders}"


def test_no_two_notebooks_define_the_same_function():
    where: dict[str, set] = {}
    for nb in NOTEBOOKS:
        for code in _code_cells(nb):
            try:
                tree = ast.parse(code)
            except SyntaxError:  # IPython magics
                continue
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    where.setdefault(node.name, set()).add(nb.relative_to(ROOT).as_posix())
    shared = {name: sorted(books) for name, books in where.items() if len(books) > 1}
    assert not shared, f"functions defined in several notebooks belong in lecturelib: {shared}"
