"""Local cloud: seconds of ``teal deploy`` with a requirements.txt, first install and cached.

A project whose function imports ``humanize`` and FastAPI (listed in its
requirements.txt) is deployed with the CLI in a subprocess, as a user runs it,
against a private temporary ``TEAL_HOME`` (and so an empty runtimes cache) and
a free gateway port:

1. ``teal deploy --yes``  the first deploy: the requirements are installed for
   the runtime's Python;
2. the first request: a cold start that imports them;
3. ``teal deploy --yes``  after a change of the app's code, same requirements:
   the install is found in the cache;
4. ``teal deploy --yes``  again, nothing changed (a no-op).

uv's own download cache is a fresh folder too, so step 1 downloads every wheel
(``--warm-uv-cache`` keeps the user's, to see an install from local wheels).

    python benchmarks/install.py [--requirements "humanize\\nfastapi"] [--warm-uv-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
TOML = f"""\
[app]
name = "install-bench"
entry = "app:app"
runtime = "{RUNTIME}"
"""
APP = """\
import fastapi
import humanize

from teal import App

app = App()
VERSION = {version}


@app.route("/size")
def size(request):
    return {{"size": humanize.naturalsize(2048), "fastapi": fastapi.__version__, "v": VERSION}}
"""
DEFAULT_REQUIREMENTS = "humanize\nfastapi\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    """A project and a private local cloud to run the CLI against."""

    def __init__(self, root: Path, requirements: str, warm_uv_cache: bool) -> None:
        self.root = root
        self.project = root / "project"
        self.project.mkdir()
        (self.project / "teal.toml").write_text(TOML)
        (self.project / "requirements.txt").write_text(requirements)
        self.write_app(1)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        self.env.update(TEAL_HOME=str(root / "teal-home"), TEAL_LOCAL_PORT=str(free_port()))
        if not warm_uv_cache:
            self.env["UV_CACHE_DIR"] = str(root / "uv-cache")

    def write_app(self, version: int) -> None:
        (self.project / "app.py").write_text(APP.format(version=version))

    def deploy(self) -> tuple[float, str]:
        """Seconds of ``teal deploy --yes``, and the endpoint it printed."""
        command = [sys.executable, "-m", "teal", "deploy", "--yes", "--json"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--project", str(self.project)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"teal deploy exited {done.returncode}:\n{done.stderr}{done.stdout}")
        return seconds, str(json.loads(done.stdout)["endpoint"])

    def stop(self) -> None:
        command = [sys.executable, "-m", "teal", "local", "stop"]
        subprocess.run(command, env=self.env, capture_output=True, timeout=60, check=False)


def first_request(endpoint: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(endpoint + "size", timeout=60) as response:
        response.read()
    return time.perf_counter() - start


def measure(requirements: str, warm_uv_cache: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="teal-bench-install-") as tmp:
        bench = Bench(Path(tmp), requirements, warm_uv_cache)
        try:
            figures: dict[str, float] = {}
            figures["first deploy (install)"], endpoint = bench.deploy()
            figures["first request (cold)"] = first_request(endpoint)
            bench.write_app(2)
            figures["deploy, new code (cached)"], _ = bench.deploy()
            figures["deploy, no change"], _ = bench.deploy()
        finally:
            bench.stop()
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requirements",
        default=DEFAULT_REQUIREMENTS,
        help="the requirements.txt text (default: humanize and fastapi)",
    )
    parser.add_argument("--warm-uv-cache", action="store_true", help="keep uv's own download cache")
    options = parser.parse_args()
    requirements = options.requirements.replace("\\n", "\n")
    listed = ", ".join(line for line in requirements.splitlines() if line.strip())
    print(f"runtime {RUNTIME}; requirements: {listed}")
    for step, seconds in measure(requirements, options.warm_uv_cache).items():
        print(f"{step:>28}  {seconds:7.2f}s", flush=True)


if __name__ == "__main__":
    main()
