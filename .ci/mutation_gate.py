"""The mutmut gate: run mutmut over some (default: all) of backprop_manual and fail unless every mutant is killed
or listed in docs/mutmut.md as equivalent. `mutmut run` itself exits 0 whatever survives, so this reads the results.

    python .ci/mutation_gate.py                                  # everything: ~1 h on 2 cores (docs/mutmut.md)
    python .ci/mutation_gate.py 'backprop_manual.neuron.passes*' ...    # some functions, as `mutmut run` takes them

Not killed means survived, timeout, suspicious, segfault or no tests; a mutant left "not checked" also fails (the
run was cut short). Exit 0 only when each of the run's mutants is killed or listed.
"""

import fnmatch
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTED = re.compile(r"`(backprop_manual\.\S+__mutmut_\d+)`")


def main(patterns: list[str]) -> int:
    patterns = patterns or ["backprop_manual.*"]
    children = str(os.cpu_count() or 2)
    subprocess.run(["mutmut", "run", "--max-children", children, *patterns], cwd=ROOT, check=True)
    results = subprocess.run(
        ["mutmut", "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    status = {}
    for line in results.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name and any(fnmatch.fnmatchcase(name, p) for p in patterns):
            status[name] = state
    equivalent = set(LISTED.findall((ROOT / "docs" / "mutmut.md").read_text(encoding="utf-8")))
    counts = Counter("equivalent (listed)" if n in equivalent and s != "killed" else s for n, s in status.items())
    print(f"mutmut over {' '.join(patterns)}: {len(status)} mutants:", dict(sorted(counts.items())))
    failing = sorted(n for n, s in status.items() if s != "killed" and n not in equivalent)
    stale = sorted(n for n in equivalent if status.get(n) == "killed")
    for name in stale:
        print(f"listed as equivalent but killed (renumbered? take it off the list): {name}")
    for name in failing:
        print(f"{status[name]}: {name}  (mutmut show {name})")
    if not status:
        print("no mutant matched: check the patterns")
    return 1 if failing or not status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
