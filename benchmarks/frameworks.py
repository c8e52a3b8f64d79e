"""FastAPI on teal: reading a large app's routes, and a local worker's cold start.

    python benchmarks/frameworks.py [--routes 500] [--cold 5] [--warm 50]

1. **Reading the routes.** A generated FastAPI app of ``--routes`` routes over
   ten routers. teal reads it as every command does (``teal.project.loader.load_app``):
   a child process of the runtime's Python imports FastAPI and the app and
   walks its routes. The requirements are installed before the clock starts.
   Printed: the whole read, and the walk alone (in this process). Target:
   under 1 s.
2. **Cold start.** The same app deployed to a private local cloud; the
   gateway is restarted ``--cold`` times, and each time the first request
   meets a new worker (interpreter, FastAPI's import, the app's, its
   lifespan); then ``--warm`` requests reuse it. A one-route teal App gets
   the same treatment, for comparison.

Needs FastAPI in this environment too (``pip install -e '.[dev]'`` has it),
for the walk timed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REQUIREMENTS = "fastapi==0.165.0\n"
FASTAPI_TOML = """\
[app]
name = "{name}"
entry = "main:app"
runtime = "python{python}"
"""
TEAL_APP = """\
from teal import App

app = App()


@app.route("/r0/{item_id}", function="app")
def item(request):
    return {"id": int(request.path_params["item_id"])}
"""


def fastapi_source(routes: int) -> str:
    """``routes`` GET routes ``/rN/{item_id}`` over ten routers, and a lifespan."""
    lines = [
        "from contextlib import asynccontextmanager",
        "from fastapi import APIRouter, FastAPI",
        "",
        "@asynccontextmanager",
        "async def lifespan(app):",
        "    yield {'ready': True}",
        "",
        "app = FastAPI(lifespan=lifespan)",
        "routers = [APIRouter(prefix=f'/g{n}') for n in range(10)]",
        "",
        "def item(item_id: int) -> dict:",
        "    return {'id': item_id}",
        "",
        f"for index in range({routes}):",
        "    path = f'/r{index}/{{item_id}}'",
        "    target = app if index == 0 else routers[index % 10]",
        "    target.add_api_route(path, item, methods=['GET'], name=f'item{index}')",
        "for router in routers:",
        "    app.include_router(router)",
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def write_fastapi_project(project: Path, routes: int) -> None:
    project.mkdir(parents=True)
    (project / "teal.toml").write_text(FASTAPI_TOML.format(name="bench", python=python_version()))
    (project / "requirements.txt").write_text(REQUIREMENTS)
    (project / "main.py").write_text(fastapi_source(routes))


def write_teal_project(project: Path) -> None:
    project.mkdir(parents=True)
    toml = FASTAPI_TOML.format(name="plain", python=python_version()).replace("main:app", "app:app")
    (project / "teal.toml").write_text(toml)
    (project / "app.py").write_text(TEAL_APP)


def reading(project: Path, routes: int, rounds: int = 5) -> None:
    from teal.project.loader import load_app, warnings_log

    warnings_log.disabled = True  # the quota warning of a large API, five times over
    from teal.project.framework_routes import starlette_routes

    def read() -> object:
        return load_app(project, "main:app", f"python{python_version()}")

    read()  # installs the requirements, once
    whole = [seconds(read) for _ in range(rounds)]
    namespace: dict[str, object] = {}
    exec(compile(fastapi_source(routes), "main.py", "exec"), namespace)
    walk = [seconds(lambda: starlette_routes(namespace["app"])) for _ in range(rounds)]
    print(f"reading a {routes}-route FastAPI app (median of {rounds}):")
    print(f"  whole read (child process, imports, walk) {statistics.median(whole):6.3f} s")
    print(f"  the walk alone                            {statistics.median(walk):6.3f} s")
    verdict = "under" if statistics.median(whole) < 1.0 else "OVER"
    print(f"  target: under 1 s -> {verdict}")


class Cloud:
    """A private local cloud (TEAL_HOME, port) and the CLI against it."""

    def __init__(self, root: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        self.env.update(TEAL_HOME=str(root / "home"), TEAL_LOCAL_PORT=str(free_port()))
        self.env["TEAL_RUNTIMES_CACHE"] = str(root / "runtimes")

    def teal(self, project: Path, *args: str) -> str:
        command = [sys.executable, "-m", "teal", *args, "--project", str(project)]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"teal {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
        return done.stdout


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()


def starts(cloud: Cloud, project: Path, cold: int, warm: int) -> tuple[list[float], list[float]]:
    """Seconds of the first request after each gateway restart, then of warm requests."""
    endpoint = json.loads(cloud.teal(project, "deploy", "--json"))["endpoint"]
    url = endpoint + "r0/1"
    colds = []
    for _ in range(cold):
        cloud.teal(project, "local", "stop")
        cloud.teal(project, "local", "start")
        colds.append(seconds(lambda: get(url)))
    warms = [seconds(lambda: get(url)) for _ in range(warm)]
    cloud.teal(project, "local", "stop")
    return colds, warms


def show(label: str, colds: list[float], warms: list[float]) -> None:
    print(
        f"  {label:<28} cold median {statistics.median(colds) * 1000:7.1f} ms "
        f"(max {max(colds) * 1000:7.1f})   warm median {statistics.median(warms) * 1000:6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--cold", type=int, default=5, help="cold starts to measure")
    parser.add_argument("--warm", type=int, default=50, help="warm requests to measure")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="teal-bench-frameworks-"))
    try:
        cloud = Cloud(root)
        os.environ["TEAL_RUNTIMES_CACHE"] = cloud.env["TEAL_RUNTIMES_CACHE"]
        fastapi_project, teal_project = root / "fastapi", root / "teal"
        write_fastapi_project(fastapi_project, args.routes)
        write_teal_project(teal_project)
        reading(fastapi_project, args.routes)
        print(f"a local worker's first request after a gateway restart ({args.cold} times):")
        show(
            f"FastAPI, {args.routes} routes", *starts(cloud, fastapi_project, args.cold, args.warm)
        )
        show("teal App, 1 route", *starts(cloud, teal_project, args.cold, args.warm))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
