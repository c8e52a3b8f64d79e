"""What deciding a package's files costs, and what the size check adds to a local deploy.

1. ``select_files`` on a generated project: ``--files`` source files spread over
   folders of 20, a ``.gitignore`` in every tenth folder (its own patterns and a
   negation), a root ``.gitignore``, and a ``node_modules/`` and ``.venv/`` that
   are left out whole (their files never looked at). Median of ``--runs`` runs.
2. ``folder_size`` on a folder of installed packages, which a local deploy now
   measures against Lambda's 250 MB (the requirements installed for the runtime):
   by default the site-packages of the Python running this script, a folder far
   larger than most apps' requirements.

    python benchmarks/package.py [--files 5000] [--runs 5] [--installed DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

from teal.project.package import select_files
from teal.project.vendor import folder_size


def generate(root: Path, files: int) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n.cache/\n")
    for index in range(files):
        folder = root / "src" / f"part{index // 20:04d}"
        if index % 20 == 0:
            folder.mkdir(parents=True)
            if index // 20 % 10 == 0:
                (folder / ".gitignore").write_text("/generated_*.py\n!keep.log\n")
        (folder / f"module{index % 20:02d}.py").write_text("X = 1\n")
        if index % 50 == 0:
            (folder / "debug.log").write_text("x")
    for hidden in ("node_modules/pkg", ".venv/lib"):
        (root / hidden).mkdir(parents=True)
        for index in range(500):
            (root / hidden / f"f{index}.js").write_text("x")


def median_seconds(runs: int, action: object) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--installed", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        generate(root, args.files)
        selected = select_files(root)
        seconds = median_seconds(args.runs, lambda: select_files(root))
        print(
            f"select_files: {args.files} source files, {len(selected.files)} kept, "
            f"{len(selected.excluded)} left out: {seconds * 1000:.1f} ms "
            f"({seconds / args.files * 1e6:.1f} µs a file)"
        )
    count = sum(1 for path in args.installed.rglob("*") if path.is_file())
    seconds = median_seconds(args.runs, lambda: folder_size(args.installed))
    size = folder_size(args.installed) / 1024 / 1024
    print(f"folder_size: {count} files, {size:.1f} MB ({args.installed}): {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()
