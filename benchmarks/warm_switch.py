"""The first requests through the domain after a switch, warmed and not (``--no-warm``).

The app's module takes 1 s to import (as a Django or FastAPI app's may), in a
function of its own (``hello``, ``[functions.hello] warm = 4``); the checks and the
switch's verification request ask ``/health``, another function, so nothing but
warming readies ``hello`` before the users come. For each mode, in a private local
cloud: deploy the app, deploy ``--extra 2``, ``teal switch --to 2`` (with or
without ``--no-warm``), then at once a burst of 4 concurrent requests through the
domain, each timed on its own (a timed request per client, not wrk: wrk would
report the burst's 4 cold starts as a tail among thousands of requests); then, once
everything is warm, single requests for the warm figure. With ``--wrk``, wrk's
load (4 connections, 3 s) starts right after the switch instead, and its max and
p99 are printed.

Printed, in ms: the first burst's fastest and slowest answer; the same burst
again once everything is warm (the like-for-like figure); a warm request alone
(median of 20).

    python benchmarks/warm_switch.py [--wrk]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from loopback import Sandbox, free_port

BURST = 4
IMPORT_S = 1.0
APP = f"""\
import time

from teal import App

time.sleep({IMPORT_S})  # a framework's import and startup

app = App()


@app.route("/hello", function="hello")
def hello(request):
    return {{"hello": "world"}}


@app.route("/health", function="health")
def health(request):
    return "ok"
"""
TOML = f"""\
[app]
name = "warmbench"
entry = "app:app"

[domain]
name = "warm.example.com"

[[checks]]
path = "/health"

[functions.hello]
warm = {BURST}
"""


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - started) * 1000


def burst(url: str) -> list[float]:
    """``BURST`` requests at once, each timed; sorted."""
    times: list[float] = []
    threads = [threading.Thread(target=lambda: times.append(timed_get(url))) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(times)


def wrk_figures(url: str) -> str:
    done = subprocess.run(
        ["wrk", "--latency", "-t1", f"-c{BURST}", "-d3s", url],
        capture_output=True,
        text=True,
        check=True,
    )
    stats = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", done.stdout)
    p99 = re.search(r"^\s+99%\s+(\S+)", done.stdout, re.MULTILINE)
    requests = re.search(r"(\d+) requests in", done.stdout)
    return (
        f"wrk: max {stats.group(1) if stats else '?'}, p99 {p99.group(1) if p99 else '?'}, "
        f"{requests.group(1) if requests else '?'} requests"
    )


def one_mode(root: Path, warm: bool, use_wrk: bool) -> str:
    project = root / ("warm" if warm else "cold")
    project.mkdir()
    (project / "app.py").write_text(APP)
    (project / "teal.toml").write_text(TOML)
    sandbox = Sandbox(project, root / f"home-{project.name}", free_port())
    try:
        url = sandbox.teal_json("deploy")["domain"]["url"] + "hello"
        sandbox.teal_json("deploy", "--extra", "2")
        switched = sandbox.teal_json("switch", "--to", "2", *(() if warm else ("--no-warm",)))
        if use_wrk:
            figures = wrk_figures(url)
        else:
            first = burst(url)
            steady = statistics.median(timed_get(url) for _ in range(20))
            again = burst(url)  # the same burst, everything warm: the like-for-like figure
            figures = (
                f"first burst of {BURST}: {first[0]:.1f}-{first[-1]:.1f} ms; a warm burst "
                f"{again[0]:.1f}-{again[-1]:.1f} ms; a warm request {steady:.1f} ms"
            )
        warmed = switched["warmed"]
        said = f"warmed {warmed} in {switched['warm_seconds']} s" if warmed else "not warmed"
        return f"{'warm' if warm else '--no-warm':>9}: {figures} ({said})"
    finally:
        sandbox.teal("local", "stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wrk", action="store_true", help="wrk's load after the switch")
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    root = Path(tempfile.mkdtemp(prefix="teal-warm-bench-"))
    try:
        print(f"a module that imports in {IMPORT_S:g} s; {BURST} requests at once after a switch")
        print(f"load before: {os.getloadavg()[0]:.2f}")
        for warm in (True, False):
            print(one_mode(root, warm, args.wrk), flush=True)
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
