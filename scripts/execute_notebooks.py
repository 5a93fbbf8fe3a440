"""Execute notebooks in place, as the book stores them, and report each one's wall time.

    python scripts/execute_notebooks.py book/activations/*.ipynb

Runs with LECTURELIB_PROGRESS=0 (no progress bars in stored outputs) and fails if a cell raises
or a notebook takes longer than --limit seconds (default 60).
"""

import argparse
import os
import resource
import sys
import time

import nbformat
from nbclient import NotebookClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a notebook may take")
    args = parser.parse_args()
    os.environ["LECTURELIB_PROGRESS"] = "0"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    slow = []
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        start = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        client.execute()  # starts, runs and shuts down (reaps) a fresh kernel
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        nbformat.write(notebook, path)
        # On a busy machine wall time is inflated; the kernel's CPU time is not. On an idle
        # 2-core machine the wall time lies between cpu/2 and cpu.
        print(f"{seconds:6.1f} s wall  {cpu:6.1f} s cpu  {path}", flush=True)
        if seconds > args.limit:
            slow.append(path)
    if slow:
        print(f"over the {args.limit:.0f} s limit: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
