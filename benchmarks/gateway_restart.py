"""The local gateway killed with -9 under load: failed requests, and seconds until the
domain serves again.

    python benchmarks/gateway_restart.py [--kills 3] [--clients 8] [--wait 30] [--wrk]

The bundled example app (examples/blog) is deployed into a private TEAL_HOME;
``--clients`` keep-alive clients send requests back to back through its custom
domain (``/health`` and ``/posts``). Every round the gateway process (the pid
``teal local status --json`` names) gets SIGKILL, and nothing else is done:
no teal command runs until the domain answers again or ``--wait`` seconds
have passed. Rounds are 12 s apart, so each gateway has served long enough
for its supervisor to start the next one at once.

With ``--wrk`` the load is wrk's (``--clients`` connections to ``/health``, one
12 s run per kill, so that the client is never the bottleneck) and the seconds
until serving again are a probe's: the first 200 answered by a gateway whose pid
is not the killed one's; wrk's own figures say what failed.

Per round it prints the requests that failed (those the killed gateway was
answering, and any refused while no gateway ran) and the seconds from the
kill to the first 200 of a request sent after it; then what ``teal status
--json`` says of the gateway. It asserts nothing (tests/test_gateway_supervisor.py
does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gateway import parse_wrk
from keepalive_load import Load
from loopback import Sandbox as BaseSandbox
from loopback import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_BLOG = REPO / "examples" / "blog"
PATHS = ("/health", "/posts")
WARM_S = 3.0  # load before the first kill: every worker warm
WRK_RUN_S = 12.0  # one wrk run per kill: the kill comes WARM_S into it
BETWEEN_KILLS_S = 12.0  # more than the supervisor's STABLE_S: each restart is immediate


class Sandbox(BaseSandbox):
    def gateway_pid(self) -> int:
        """The gateway's pid, read from gateway.json: asking teal could start one."""
        record = json.loads((self.home / "gateway.json").read_text())
        return int(record["pid"])


@dataclass(frozen=True)
class Round:
    failed: int
    back_after_s: float | None  # None: not serving again within the wait


def one_kill(sandbox: Sandbox, load: Load, wait_s: float) -> Round:
    pid = sandbox.gateway_pid()
    before = len(load.requests)
    failed_before = load.failed
    os.kill(pid, signal.SIGKILL)
    # read after the kill: a request the old gateway answered in the moment before it
    # (the client threads hold the interpreter meanwhile) would count as served again
    killed_at = time.monotonic()
    back: float | None = None
    while back is None and time.monotonic() - killed_at < wait_s:
        time.sleep(0.05)
        served = [r.ended for r in load.requests[before:] if r.ok and r.started > killed_at]
        back = min(served) - killed_at if served else None
    time.sleep(1.0)  # the requests still waiting for it are answered, or fail
    return Round(load.failed - failed_before, back)


def run(kills: int, clients: int, wait_s: float, with_wrk: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(EXAMPLE_BLOG, root / "blog")
        sandbox = Sandbox(root / "blog", root / "home", free_port())
        try:
            if with_wrk:
                measure_with_wrk(sandbox, kills, clients, wait_s)
            else:
                measure(sandbox, kills, clients, wait_s)
        finally:
            sandbox.teal("local", "stop")


def measure_with_wrk(sandbox: Sandbox, kills: int, connections: int, wait_s: float) -> None:
    url = sandbox.teal_json("deploy", "--yes")["domain"]["url"] + "health"
    gaps = []
    for n in range(kills):
        load = subprocess.Popen(
            ["wrk", "--latency", "-t2", f"-c{connections}", f"-d{WRK_RUN_S:g}s", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(WARM_S)
        killed = sandbox.gateway_pid()
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        back = None
        while back is None and time.monotonic() - killed_at < wait_s:
            if _answers(url) and sandbox.gateway_pid() != killed:
                back = time.monotonic() - killed_at
            else:
                time.sleep(0.02)
        figures = parse_wrk(f"kill -9 #{n + 1}", load.communicate()[0])
        shown = f"{back:.2f}s" if back is not None else f"not within {wait_s:g}s"
        print(
            f"kill -9 #{n + 1}: serving again after {shown}; wrk: {figures.requests} requests, "
            f"{figures.errors} failed (non-2xx and socket errors), p99 {figures.p99_ms:.1f} ms"
        )
        if back is not None:
            gaps.append(back)
        time.sleep(BETWEEN_KILLS_S)
    if gaps:
        print(
            f"seconds until serving again: median {statistics.median(gaps):.2f}, "
            f"max {max(gaps):.2f} ({len(gaps)} of {kills} kills)"
        )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def measure(sandbox: Sandbox, kills: int, clients: int, wait_s: float) -> None:
    app = sandbox.project / "app.py"
    app.write_text(re.sub(r'^VERSION = ".*"$', 'VERSION = "1"', app.read_text(), flags=re.M))
    deployed = sandbox.teal_json("deploy", "--yes")
    domain_port = int(deployed["domain"]["url"].rsplit(":", 1)[1].strip("/"))
    rounds = []
    with Load(domain_port, PATHS, clients) as load:
        time.sleep(WARM_S)
        for n in range(kills):
            if n:
                time.sleep(BETWEEN_KILLS_S)
            result = one_kill(sandbox, load, wait_s)
            rounds.append(result)
            back = (
                f"{result.back_after_s:.2f}s"
                if result.back_after_s is not None
                else f"not within {wait_s:g}s"
            )
            print(f"kill -9 #{n + 1}: {result.failed} failed requests, serving again after {back}")
        sent, failed = len(load.requests), load.failed
    gaps = [r.back_after_s for r in rounds if r.back_after_s is not None]
    print(f"{clients} clients through the domain: {sent} requests, {failed} failed in all")
    if gaps:
        print(
            f"seconds until serving again: median {statistics.median(gaps):.2f}, "
            f"max {max(gaps):.2f} ({len(gaps)} of {len(rounds)} kills)"
        )
    gateway = sandbox.teal_json("status").get("gateway")
    print(f"teal status --json: gateway {json.dumps(gateway)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait per kill")
    parser.add_argument("--wrk", action="store_true", help="wrk makes the load (see above)")
    args = parser.parse_args()
    if args.wrk and shutil.which("wrk") is None:
        parser.error("wrk is not on the PATH (Debian/Ubuntu: apt-get install wrk)")
    run(args.kills, args.clients, args.wait, args.wrk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
