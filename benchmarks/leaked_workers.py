"""Worker processes the local gateway no longer knows, after many deploys under traffic.

    python benchmarks/leaked_workers.py [--deploys 300] [--clients 32] [--import-s 0]

The bundled example app (examples/blog) in a private TEAL_HOME: deployed
once, then ``--deploys`` times again with a new ``VERSION`` each time (an
update in place: every function gets new code, so the gateway retires the
old version's workers), while ``--clients`` keep-alive clients send requests
through the custom domain to its two functions back to back. ``--import-s``
makes importing the app take that long, as a heavy framework's does, so
that workers are still starting for longer around each deploy.

Then the traffic stops and it counts, from the process table:

- *unknown*: worker processes of the gateway (its children running
  ``worker_main.py``) that ``teal local status --json`` does not list;
- *left after stop*: any worker process seen during the run still alive
  after ``teal local stop``.

It prints the figures and asserts nothing (tests/test_worker_ownership.py does).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
from keepalive_load import Load
from loopback import Sandbox as BaseSandbox
from loopback import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_BLOG = REPO / "examples" / "blog"
PATHS = ("/health", "/posts")
WORKER_SCRIPT = "worker_main.py"


class Sandbox(BaseSandbox):
    def set_version(self, version: int) -> None:
        app = self.project / "app.py"
        text = re.sub(r'^VERSION = ".*"$', f'VERSION = "{version}"', app.read_text(), flags=re.M)
        app.write_text(text)

    def slow_import(self, seconds: float) -> None:
        """Importing the app takes ``seconds`` more (a cold start that long)."""
        if seconds > 0:
            app = self.project / "app.py"
            app.write_text(f"import time\ntime.sleep({seconds})\n{app.read_text()}")


def worker_processes(gateway_pid: int) -> set[int]:
    """The gateway's worker processes, from the process table."""
    try:
        children = psutil.Process(gateway_pid).children()
    except psutil.Error:
        return set()
    found = set()
    for child in children:
        try:
            if any(part.endswith(WORKER_SCRIPT) for part in child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            continue
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.add(pid)
        except psutil.Error:
            continue
    return left


def run(deploys: int, clients: int, import_s: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(EXAMPLE_BLOG, root / "blog")
        sandbox = Sandbox(root / "blog", root / "home", free_port())
        try:
            measure(sandbox, deploys, clients, import_s)
        finally:
            sandbox.teal("local", "stop")


def measure(sandbox: Sandbox, deploys: int, clients: int, import_s: float) -> None:
    sandbox.slow_import(import_s)
    sandbox.set_version(0)
    deployed = sandbox.teal_json("deploy", "--yes")
    domain_port = int(deployed["domain"]["url"].rsplit(":", 1)[1].strip("/"))
    gateway_pid = int(sandbox.teal_json("local", "status")["pid"])
    seen: set[int] = set()
    started = time.monotonic()
    with Load(domain_port, PATHS, clients) as traffic:
        for version in range(1, deploys + 1):
            sandbox.set_version(version)
            sandbox.teal_json("deploy", "--yes")
            seen |= worker_processes(gateway_pid)
    elapsed = time.monotonic() - started
    time.sleep(1.0 + import_s)  # the requests in flight are answered, starts are over
    status = sandbox.teal_json("local", "status")
    if status["pid"] != gateway_pid:
        raise SystemExit("the gateway was restarted during the run: the count would be wrong")
    known = {int(w["pid"]) for w in status["workers"]}
    running = worker_processes(gateway_pid)
    seen |= running
    unknown = running - known
    sandbox.teal("local", "stop")
    time.sleep(0.5)
    left = alive(seen)
    print(
        f"deploys under traffic: {deploys} in {elapsed:.0f}s, {clients} clients, "
        f"{import_s:g}s import"
    )
    print(f"requests: {len(traffic.requests)} sent, {traffic.failed} failed")
    print(f"worker processes seen: {len(seen)}")
    print(f"workers the gateway lists: {len(known)}; its worker processes: {len(running)}")
    print(f"worker processes the gateway does not know: {len(unknown)}")
    print(f"worker processes left after teal local stop: {len(left)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=300)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--import-s", type=float, default=0.0, help="seconds added to imports")
    args = parser.parse_args()
    run(args.deploys, args.clients, args.import_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
