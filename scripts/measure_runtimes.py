"""Measure how long each notebook takes a reader who runs it first: an empty model cache, one
notebook at a time, nothing stored. Writes ``book/runtimes.json``, which the run-times page's
``{nb-exec-table}`` shows (``_ext/stored_runtimes.py``).

    python scripts/measure_runtimes.py [notebooks ...]   # default: every notebook of the book

Each notebook runs in a fresh kernel with ``LECTURELIB_PROGRESS=0`` and its own empty
``LECTURELIB_CACHE``, so every model it trains is trained. The notebook file is not changed.
Recorded per notebook: the wall time from the first cell's start to the last cell's end (as
``nb-exec-table`` reports a build's runs; the kernel's start-up is not counted) and the kernel's
CPU seconds; and once, the machine (processor, cores, memory, torch's version and threads).
Running several notebooks at once, or on a busy machine, inflates the wall times: run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "runtimes.json"


def machine() -> dict:
    """What the times were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return {"processor": cpu, "cores": os.cpu_count(), "memory_gib": round(memory, 1),
            "python": platform.python_version(), "torch": torch.__version__, "system": platform.system()}


def _cell_span(notebook) -> float:
    stamps = [c.metadata["execution"] for c in notebook.cells
              if c.cell_type == "code" and "iopub.execute_input" in c.metadata.get("execution", {})]
    start = datetime.fromisoformat(stamps[0]["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(stamps[-1]["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def measure(path: Path) -> dict:
    """Run ``path`` cold in a fresh kernel; its wall (cells) and CPU seconds."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="lecturelib-cold-") as cache:
        os.environ["LECTURELIB_CACHE"] = cache
        client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        client.execute()
        total = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"runtime_s": round(_cell_span(notebook), 2), "with_kernel_start_s": round(total, 2),
            "cpu_s": round(cpu, 2), "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ["LECTURELIB_PROGRESS"] = "0"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "book").rglob("*.ipynb"))
    record = json.loads(OUT.read_text()) if OUT.exists() else {"notebooks": {}}
    record["machine"] = machine()
    for path in paths:
        if ".ipynb_checkpoints" in path.parts:
            continue
        name = path.relative_to(ROOT).as_posix()
        record["notebooks"][name] = measure(path)
        print(f"{record['notebooks'][name]['runtime_s']:7.1f} s  {name}", flush=True)
        record["notebooks"] = dict(sorted(record["notebooks"].items()))
        OUT.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
