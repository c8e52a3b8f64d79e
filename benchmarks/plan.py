"""Synthesis + analysis time of ``teal plan`` for apps of 10 to 5,000 routes.

Each measurement is one :func:`teal.plan.analysis.build_plan`: synthesize the app
with one route added and analyze it against the deployed template of the app
without it (the common deploy). The best of a few runs is printed, in seconds.

Targets: 1,000 routes under 0.2 s; 5,000 routes under 6x the 1,000 figure.

    python benchmarks/plan.py
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from generated_app import build_app

from teal.plan.analysis import build_plan
from teal.project.config import Target
from teal.runtime.routes import RouteTable
from teal.template import StoredTemplates, synthesize

SIZES = (10, 100, 1000, 5000)
RUNS = 5
CODE_KEY = "code/" + "0" * 64 + ".zip"
TARGET = Target(
    project_dir=Path("."),
    app="bench",
    env="dev",
    extra=None,
    cloud="local",
    entry="app:app",
    runtime="python3.12",
    memory=256,
    timeout=10,
)


def app_table(routes: int) -> RouteTable:
    return build_app(routes).routes()


def measure(routes: int) -> float:
    deployed = synthesize(app_table(routes), TARGET, CODE_KEY)
    previous = StoredTemplates(deployed.template, deployed.nested_by_logical_id)
    grown = app_table(routes + 1)
    best = float("inf")
    for _ in range(RUNS):
        gc.collect()
        start = time.perf_counter()
        plan = build_plan(grown, TARGET, CODE_KEY, previous)
        best = min(best, time.perf_counter() - start)
        assert not plan.replace, "adding a route must not replace the API"
    return best


def main() -> None:
    figures = {}
    for routes in SIZES:
        figures[routes] = measure(routes)
        print(f"{routes:>6} routes: {figures[routes]:.3f} s")
    ratio = figures[5000] / figures[1000]
    print(f"5000/1000 ratio: {ratio:.2f} (target < 6)")
    print(f"1000 routes under 0.2 s: {'yes' if figures[1000] < 0.2 else 'no'}")


if __name__ == "__main__":
    main()
