"""Workers and memory of the local cloud around a switch, from ``teal local status``.

    python benchmarks/local_memory.py [--functions 10] [--connections 64] [--watch 75]

Needs ``wrk`` on the PATH (Debian/Ubuntu: ``apt-get install wrk``); without it
it says so and exits without measuring.

Deploys an app of ``--functions`` functions twice into a private TEAL_HOME
(the base environment, live on the custom domain, and the extra environment
``2``), sends a burst of ``--connections`` connections through the domain to
every function, switches the domain to the extra environment, sends the same
burst again, then watches the workers: how many there are and the resident
memory (RSS) of the gateway and all its workers, until the old environment's
workers have left and a live environment is down to one warm worker per
function.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from loopback import free_port, teal_json

TEAL_TOML = """
[app]
name = "mem"
entry = "app:app"
runtime = "python3.12"

[domain]
name = "mem.example.com"
"""

ROTATE_LUA = """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/f" .. (n % {functions}))
end
"""
MB = 1024 * 1024


def app_source(functions: int, version: str) -> str:
    routes = "\n".join(
        f'@app.route("/f{i}", function="f{i}")\ndef f{i}(request):\n'
        f'    return {{"function": {i}, "version": VERSION}}\n\n'
        for i in range(functions)
    )
    return f'from teal import App\n\nVERSION = "{version}"\napp = App()\n\n\n{routes}'


def burst(url: str, functions: int, connections: int, seconds: float, work: Path) -> float:
    script = work / "rotate.lua"
    script.write_text(ROTATE_LUA.format(functions=functions))
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


def snapshot(env: dict[str, str], project: Path) -> dict[str, Any]:
    status = teal_json(env, project, "local", "status")
    by_env: dict[str, int] = {}
    for worker in status["workers"]:
        environment = worker["function"].rsplit("-", 1)[0]
        by_env[environment] = by_env.get(environment, 0) + 1
    return {"workers": len(status["workers"]), "by_env": by_env, **status["memory"]}


def show(label: str, snap: dict[str, Any]) -> None:
    envs = ", ".join(f"{name}: {count}" for name, count in sorted(snap["by_env"].items()))
    print(
        f"{label:<34} workers {snap['workers']:>3} ({envs or 'none'})  "
        f"RSS total {snap['total_rss_bytes'] / MB:7.1f} MB "
        f"(gateway {snap['gateway_rss_bytes'] / MB:.1f} MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each burst")
    parser.add_argument("--watch", type=float, default=75.0, help="seconds to watch after")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("benchmark skipped: wrk is not on the PATH (Debian/Ubuntu: apt-get install wrk)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = work / "mem"
        project.mkdir()
        (project / "teal.toml").write_text(textwrap.dedent(TEAL_TOML))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(work / "home"), TEAL_LOCAL_PORT=str(free_port()))
        try:
            run(args, work, project, env)
        finally:
            teal_json(env, project, "local", "stop")
    return 0


def run(args: argparse.Namespace, work: Path, project: Path, env: dict[str, str]) -> None:
    (project / "app.py").write_text(app_source(args.functions, "1"))
    base = teal_json(env, project, "deploy")
    (project / "app.py").write_text(app_source(args.functions, "2"))
    extra = teal_json(env, project, "deploy", "--extra", "2")
    domain_url = base["domain"]["url"]
    show("deployed (base live, extra 2)", snapshot(env, project))
    rps = burst(domain_url, args.functions, args.connections, args.seconds, work)
    show(f"after a c{args.connections} burst ({rps:.0f} req/s)", snapshot(env, project))
    teal_json(env, project, "switch", "--to", "2")
    switched = time.monotonic()
    rps = burst(domain_url, args.functions, args.connections, args.seconds, work)
    show(f"switched, same burst ({rps:.0f} req/s)", snapshot(env, project))
    old_gone = None
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < args.watch:
        time.sleep(5)
        snap = snapshot(env, project)
        show(f"idle {time.monotonic() - idle_since:4.0f} s", snap)
        if old_gone is None and base["environment"] not in snap["by_env"]:
            old_gone = time.monotonic() - switched
    print(
        f"old environment ({base['environment']}) without workers "
        + (f"{old_gone:.0f} s after the switch" if old_gone else "not within the watch")
        + f"; live: {extra['environment']}"
    )


if __name__ == "__main__":
    sys.exit(main())
