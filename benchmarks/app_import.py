"""How long teal takes to read an app by importing it (``teal routes``, ``plan`` and
``deploy`` all start there), and how promptly it ends an import that misbehaves.

Three figures, each the best of a few runs, in seconds:

- a small teal App (three routes): the import in the runtime's Python, its answer
  read, its process group ended;
- the same app when its import also starts ``sleep 600`` in the background: teal
  does not wait for it (the figure should match the first);
- an import that sleeps forever, under ``TEAL_IMPORT_TIMEOUT=1``: the bound, plus
  asking the import where it stands and ending it.

    python benchmarks/app_import.py
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import time
from pathlib import Path

from teal.project.loader import load_routes
from teal.runtime.errors import AppLoadError

RUNS = 5
APP = """\
from teal import App

app = App()

@app.route("/posts", methods=["GET"])
def list_posts(request):
    return []

@app.route("/posts/{id}", methods=["GET", "DELETE"])
def show_post(request):
    return {}

@app.route("/health")
def health(request):
    return "ok"
"""
BACKGROUND = 'import subprocess\nsubprocess.Popen(["sleep", "600"])\n'
FOREVER = "import time\ntime.sleep(600)\n"


def project(folder: Path, source: str) -> Path:
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(source))
    return folder


def best_of(root: Path, *, refused: bool = False) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        try:
            load_routes(root, "app:app", "python3.11")
            assert not refused, "the import was expected to be stopped"
        except AppLoadError:
            assert refused, "the import failed"
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        os.environ.setdefault("TEAL_RUNTIMES_CACHE", str(work / "runtimes"))
        load_routes(project(work / "warm", APP), "app:app", "python3.11")  # caches filled
        small = best_of(project(work / "small", APP))
        background = best_of(project(work / "background", BACKGROUND + APP))
        os.environ["TEAL_IMPORT_TIMEOUT"] = "1"
        forever = best_of(project(work / "forever", FOREVER + APP), refused=True)
    print(f"small app read:                     {small:.3f} s")
    print(f"same, its import starting a sleep:  {background:.3f} s")
    print(f"an endless import under a 1 s bound: {forever:.3f} s")


if __name__ == "__main__":
    main()
