"""Execute notebooks under several PyTorch CPU capabilities and report checked cells that differ.

    python scripts/portability.py book/activations/*.ipynb
    python scripts/portability.py --capabilities default avx2 book/landscape/filter_normalisation.ipynb

A cell tagged ``nbval-check-output`` must print the same text on every processor.
``ATEN_CPU_CAPABILITY`` selects which of PyTorch's vectorised CPU kernels run (``default``,
``avx2``, ``avx512`` on x86), which is what another machine does to the last bits of a float
computation. This script runs each notebook once natively and once per capability, without
writing it, applies the sanitizer that ``make test`` uses (``tests/nbval_sanitize.cfg``) and
prints every checked cell whose text differs, side by side with the stored output. It exits
with 1 if any differs. Use it while writing a chapter; ``make test`` checks one capability.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TAG = "nbval-check-output"


def sanitizers(path: Path = ROOT / "tests" / "nbval_sanitize.cfg") -> list[tuple[re.Pattern, str]]:
    """The ``regex:``/``replace:`` pairs of nbval's sanitize file, in order."""
    pairs, pattern = [], None
    for line in path.read_text().splitlines():
        if line.startswith("regex:"):
            pattern = re.compile(line[len("regex:"):].strip())
        elif line.startswith("replace:") and pattern is not None:
            pairs.append((pattern, line[len("replace:"):].strip()))
            pattern = None
    return pairs


def checked_text(notebook, rules) -> dict[int, str]:
    """Text output of every tagged code cell, sanitized: ``{cell index: text}``."""
    texts = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif output.get("output_type") in ("execute_result", "display_data"):
                data = output.get("data", {})
                if "text/plain" in data and not any(k.startswith("image/") or "widget" in k for k in data):
                    parts.append(data["text/plain"])
            elif output.get("output_type") == "error":
                parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        text = "".join(parts)
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        texts[index] = text
    return texts


def execute(notebook, path: Path, capability: str | None):
    """A fresh copy of ``notebook`` executed with ``ATEN_CPU_CAPABILITY=capability`` (None: native).

    Each run gets an empty model cache, so every model is trained under that capability.
    """
    saved = {key: os.environ.get(key) for key in ("ATEN_CPU_CAPABILITY", "LECTURELIB_CACHE")}
    with tempfile.TemporaryDirectory(prefix="lecturelib-portability-") as cache:
        os.environ["LECTURELIB_CACHE"] = cache
        if capability is None:
            os.environ.pop("ATEN_CPU_CAPABILITY", None)
        else:
            os.environ["ATEN_CPU_CAPABILITY"] = capability
        try:
            executed = copy.deepcopy(notebook)
            NotebookClient(executed, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            return executed
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--capabilities", nargs="+", default=["native", "avx2", "default"],
                        help="ATEN_CPU_CAPABILITY values to run under ('native' leaves it unset)")
    args = parser.parse_args()
    os.environ["LECTURELIB_PROGRESS"] = "0"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    rules = sanitizers()
    differing = 0
    for path in args.notebooks:
        stored = nbformat.read(path, as_version=4)
        runs = {"stored": checked_text(stored, rules)}
        for capability in args.capabilities:
            executed = execute(stored, path, None if capability == "native" else capability)
            runs[capability] = checked_text(executed, rules)
        bad = [i for i in runs["stored"] if len({run.get(i) for run in runs.values()}) > 1]
        print(f"{path}: {len(runs['stored'])} checked cells, {len(bad)} differ", flush=True)
        for index in bad:
            differing += 1
            print(f"  cell {index}:")
            for name, run in runs.items():
                for line in (run.get(index) or "<missing>").rstrip("\n").splitlines() or [""]:
                    print(f"    {name:>8} | {line}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
