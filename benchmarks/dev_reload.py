"""``teal dev``: seconds from saving app.py to the new code answering a request.

A small app (three routes, two functions) is served by ``teal dev`` against a
private temporary ``TEAL_HOME`` and a free gateway port. Each round saves a
new version of app.py, then asks the endpoint until it answers with that
version, and measures from the save to that answer: the watcher's notice,
the redeploy (routes read in the runtime's own Python, package, stack update)
and the new code's cold start. ``teal dev``'s own figure (save to deploy
done) is printed beside it. Target: about a second.

    python benchmarks/dev_reload.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TOML = """\
[app]
name = "reload"
entry = "app:app"
"""
APP = """\
from teal import App

app = App()
VERSION = "{version}"


@app.route("/")
def home(request):
    return "version " + VERSION


@app.route("/items", function="items")
def items(request):
    return {{"items": []}}


@app.route("/items/{{id}}", function="items")
def item(request):
    return {{"id": request.path_params["id"]}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answer(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        project = root / "project"
        project.mkdir()
        (project / "teal.toml").write_text(TOML)
        (project / "app.py").write_text(APP.format(version=0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(root / "home"), TEAL_LOCAL_PORT=str(free_port()))
        dev = subprocess.Popen(
            [sys.executable, "-m", "teal", "dev", "--json", "--project", str(project)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        events: queue.Queue[dict[str, object]] = queue.Queue()
        assert dev.stdout is not None
        stdout = dev.stdout
        threading.Thread(
            target=lambda: [events.put(json.loads(line)) for line in stdout], daemon=True
        ).start()
        try:
            return measure(project, events, args.rounds)
        finally:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=60)
            subprocess.run([sys.executable, "-m", "teal", "local", "stop"], env=env, check=False)


def next_event(events: queue.Queue[dict[str, object]], kind: str) -> dict[str, object]:
    while True:
        event = events.get(timeout=120)
        if event.get("event") == kind:
            return event


def measure(project: Path, events: queue.Queue[dict[str, object]], rounds: int) -> int:
    url = str(next_event(events, "deployed")["endpoint"])
    next_event(events, "watching")
    answered: list[float] = []
    deployed: list[float] = []
    for version in range(1, rounds + 1):
        time.sleep(1.0)  # a pause between saves, as when editing
        (project / "app.py").write_text(APP.format(version=version))
        saved = time.monotonic()
        while answer(url) != f"version {version}":
            if time.monotonic() - saved > 60:
                print(f"version {version} never answered", file=sys.stderr)
                return 1
            time.sleep(0.01)
        answered.append(time.monotonic() - saved)
        latency = next_event(events, "deployed")["latency_s"]
        deployed.append(float(str(latency)))
        print(
            f"round {version}: new code answering {answered[-1]:.2f} s after the save "
            f"(teal dev: deployed {deployed[-1]:.2f} s after it)"
        )
    print(
        f"save -> new code answering: median {statistics.median(answered):.2f} s, "
        f"max {max(answered):.2f} s over {rounds} saves; "
        f"save -> deployed (teal dev's figure): median {statistics.median(deployed):.2f} s"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
