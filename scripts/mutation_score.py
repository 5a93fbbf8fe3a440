"""Mutation score per module, from the results `mutmut run` leaves in ``mutants/``.

    .venv/bin/mutmut run && python scripts/mutation_score.py

A mutant is one small change to the code (``<`` for ``<=``, a constant off by one, a removed
call). The tests kill it when some test fails. The score of a module is

    killed / (mutants - equivalent)

where an *equivalent* mutant changes no behaviour at all (e.g. a changed default that every
caller overrides); those are listed, with the reason, in ``tests/mutation_equivalent.txt`` (one
``mutant name  # reason`` per line). Surviving mutants that are not listed there are printed:
each is a bug the tests would miss.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3}          # a test failed (3: pytest's internal error counts as a kill)
TIMEOUT = {24, -24, 36, 152, 255}


def equivalent_mutants(path: Path = ROOT / "tests" / "mutation_equivalent.txt") -> dict[str, str]:
    """``{mutant name: reason}`` for the mutants judged to change no behaviour."""
    if not path.is_file():
        return {}
    listed = {}
    for line in path.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            listed[name.strip()] = reason.strip()
    return listed


def main() -> int:
    metas = sorted((ROOT / "mutants" / "lecturelib").glob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `.venv/bin/mutmut run` first", file=sys.stderr)
        return 2
    equivalent = equivalent_mutants()
    total = Counter()
    survivors = []
    print(f"{'module':<12} {'mutants':>8} {'killed':>7} {'timeout':>8} {'survived':>9} {'equivalent':>11} {'score':>7}")
    for meta in metas:
        results = json.loads(meta.read_text())["exit_code_by_key"]
        if not results:
            continue
        counts = Counter()
        for name, code in results.items():
            if code in KILLED or code in TIMEOUT:  # a timeout is a mutant the tests noticed (it hangs)
                counts["killed"] += 1
                counts["timeout"] += code in TIMEOUT
            elif name in equivalent:
                counts["equivalent"] += 1
            else:
                counts["survived"] += 1
                survivors.append((name, code))
        counts["mutants"] = len(results)
        total.update(counts)
        module = meta.name[: -len(".py.meta")]
        score = counts["killed"] / max(counts["mutants"] - counts["equivalent"], 1)
        print(f"{module:<12} {counts['mutants']:>8} {counts['killed']:>7} {counts['timeout']:>8} "
              f"{counts['survived']:>9} {counts['equivalent']:>11} {score:>7.1%}")
    score = total["killed"] / max(total["mutants"] - total["equivalent"], 1)
    print(f"{'all':<12} {total['mutants']:>8} {total['killed']:>7} {total['timeout']:>8} "
          f"{total['survived']:>9} {total['equivalent']:>11} {score:>7.1%}")
    if survivors:
        print("\nsurviving mutants (see one with `.venv/bin/mutmut show NAME`):")
        for name, code in survivors:
            print(f"  {name}" + ("" if code == 0 else f"  (exit code {code})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
