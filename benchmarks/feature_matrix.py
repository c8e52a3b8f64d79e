"""What the feature matrix costs the test suite: each of its test files run alone.

    python benchmarks/feature_matrix.py            # the files the suite runs
    TEAL_FULL_LINT=1 python benchmarks/feature_matrix.py lint   # every pair linted

Each file runs in a pytest of its own on one worker (``-n0``), as the suite's
``--dist loadfile`` gives a file to one worker; it prints the file's wall time,
the CPU time of pytest and its children, and pytest's own summary line. The
machine's load average is printed too: wall times on a shared machine are
only as good as it is idle.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "pairs": "tests/test_feature_matrix.py",
    "lint": "tests/test_feature_matrix_lint.py",
    "local": "tests/test_e2e_full_feature.py",
    "moto": "tests/test_aws_full_feature.py",
}


def run(name: str, path: str) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"{name:6} {path:38} wall {wall:6.1f} s  cpu {cpu:6.1f} s  {summary}")


def main(names: list[str]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name in names or list(FILES):
        run(name, FILES[name])


if __name__ == "__main__":
    main(sys.argv[1:])
