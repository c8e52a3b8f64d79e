"""Benchmark of the local gateway beside a bare uvicorn app, both driven by wrk.

    python benchmarks/gateway.py [--runs 3] [--seconds 5] [--connections 16]

Needs ``wrk`` on the PATH (Debian/Ubuntu: ``apt-get install wrk``) and
uvicorn's standard extras (uvloop, httptools: ``pip install 'uvicorn[standard]'``);
without them it says so and exits without measuring.

In each run, on loopback and one after the other:

1. a bare ``uvicorn[standard]`` "hello" ASGI app: the ceiling on this machine;
2. the one-hop ceiling (``benchmarks/one_hop.py``): the gateway's HTTP server
   sending a gateway-sized event to one of ten minimal worker processes and
   answering what comes back, with none of API Gateway's or Lambda's work:
   what the design costs before teal does anything;
3. the local gateway serving a deployed hello app (``teal deploy`` into a
   private TEAL_HOME: real SQLite state, real worker processes), through the
   API endpoint URL and through the custom domain's own port.

Each subject gets a warm-up, then ``wrk -t1 -c16 -d5s --latency``; the
figures are requests/s, p50 and p99 from wrk, the ratio to the bare app
of the same run, and the gateway's share of the one-hop ceiling of the same
run: that share moves far less from one machine to another than the ratio
to the bare app does, which follows how dear the machine makes system calls
and process switches. One wrk thread is enough to drive the bare app past
30,000 requests/s on two cores, so the client is not the limit. Beside them,
the CPU time per request of the server process (the bare app's, the
gateway's) and of the workers the gateway started, from the kernel's
accounting. It also reports a worker's cold start and the first request
through a fresh gateway.

The figures are noisy on a shared machine: the load average is printed
before and after, and ``--runs`` gives the best and the spread. The CPU times
per request move far less with the load than requests/s do: compare those
when others share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from loopback import free_port

from teal.cloud.local.functions.workers import DEFAULT_CONCURRENCY, WorkerManager
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.project.runtimes import find_interpreter

HELLO_APP = """
from teal import App

app = App()


@app.route("/hello", function="hello")
def hello(request):
    return {"hello": "world"}
"""

RUNTIME = "python3.12"
TEAL_TOML = f"""
[app]
name = "bench"
entry = "app:app"
runtime = "{RUNTIME}"

[domain]
name = "bench.example.com"
"""

BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"hello":"world"}'})
"""

WARM_UP_S = 2


@dataclass(frozen=True)
class Figures:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU time per request of the server process, and of the worker processes it started
    # (kernel accounting, psutil): steadier than req/s when others share the machine
    server_cpu_us: float = 0.0
    workers_cpu_us: float = 0.0


# ---------------------------------------------------------------- wrk


def missing_tools() -> list[str]:
    """What this benchmark needs and cannot find, as install hints."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk is not on the PATH (Debian/Ubuntu: apt-get install wrk)")
    for module in ("uvloop", "httptools"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{module} is not installed (pip install 'uvicorn[standard]')")
    return missing


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {percentile}% latency in wrk's output:\n{text}")
    return float(found.group(1)) * _UNITS_MS[found.group(2)]


def parse_wrk(name: str, text: str) -> Figures:
    """Requests/s, p50, p99 and failed requests from ``wrk --latency``'s report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    requests = re.search(r"^\s*(\d+) requests in", text, re.MULTILINE)
    return Figures(
        name,
        float(rps.group(1)),
        _latency_ms(text, "50"),
        _latency_ms(text, "99"),
        errors,
        int(requests.group(1)) if requests else 0,
    )


def wrk(url: str, seconds: float, connections: int, *, latency: bool = True) -> str:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    if latency:
        command.insert(1, "--latency")
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout


def cpu_seconds(server: psutil.Process) -> tuple[float, float]:
    """CPU time (user + system) so far of the server, and of all its living children."""
    own = server.cpu_times()
    children = 0.0
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a worker that left meanwhile
            times = child.cpu_times()
            children += times.user + times.system
    return own.user + own.system, children


def measure(name: str, url: str, args: argparse.Namespace, server: psutil.Process) -> Figures:
    # the warm-up starts every worker the run needs and fills the caches
    wrk(url, WARM_UP_S, args.connections, latency=False)
    own_before, children_before = cpu_seconds(server)
    figures = parse_wrk(name, wrk(url, args.seconds, args.connections))
    own_after, children_after = cpu_seconds(server)
    per_request = 1e6 / max(figures.requests, 1)
    return dataclasses.replace(
        figures,
        server_cpu_us=(own_after - own_before) * per_request,
        workers_cpu_us=(children_after - children_before) * per_request,
    )


# ---------------------------------------------------------------- subjects


def start_bare(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """A bare uvicorn[standard] app (uvloop, httptools) on this port: the reference."""
    (workdir / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
    command = [
        *(sys.executable, "-m", "uvicorn", "bare_app:app"),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--loop", "uvloop", "--http", "httptools"),
        *("--log-level", "warning", "--no-access-log"),
    ]
    return answering(subprocess.Popen(command, cwd=workdir), f"http://127.0.0.1:{port}/")


def answering(process: subprocess.Popen[bytes], url: str) -> subprocess.Popen[bytes]:
    """The server process once it answers ``url`` (killed if it does not within 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            get(url)
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the server of {url} did not answer")


@contextlib.contextmanager
def stopped_at_the_end(
    process: subprocess.Popen[bytes],
) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        process.terminate()
        process.wait()


def start_one_hop(port: int) -> subprocess.Popen[bytes]:
    """The one-hop ceiling (``benchmarks/one_hop.py``): HTTP and one worker process, no
    more, with the gateway's server and pool size, the hello app's runtime Python."""
    python = str(find_interpreter(RUNTIME).path)
    script = Path(__file__).with_name("one_hop.py")
    command = [sys.executable, str(script), str(port), str(DEFAULT_CONCURRENCY), python]
    return answering(subprocess.Popen(command), f"http://127.0.0.1:{port}/hello")


def get(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass(frozen=True)
class Deployed:
    api_url: str
    domain_url: str
    api_id: str


def teal(env: dict[str, str], project: Path, *args: str) -> str:
    command = [sys.executable, "-m", "teal", *args, "--project", str(project)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"teal {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def deploy_hello(work: Path, env: dict[str, str]) -> Deployed:
    project = work / "hello"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent(HELLO_APP))
    (project / "teal.toml").write_text(textwrap.dedent(TEAL_TOML))
    result = json.loads(teal(env, project, "deploy", "--json"))
    return Deployed(
        result["endpoint"] + "hello", result["domain"]["url"] + "hello", result["api_id"]
    )


def cold_start_ms(paths: LocalPaths, api_id: str, runs: int = 5) -> list[float]:
    """Start fresh workers of the hello function; time to handler imported."""
    state = StoreServingState(paths)
    served = state.stage(api_id, "dev")
    assert served is not None and served.routes[0].function_arn is not None
    spec = state.function_by_arn(served.routes[0].function_arn)
    assert spec is not None
    state.close()

    async def starts() -> list[float]:
        figures: list[float] = []
        for _ in range(runs):
            manager = WorkerManager(paths)
            await manager.invoke(spec, {"resource": "/hello", "httpMethod": "GET"}, "cold")
            figures.extend(manager.cold_starts_ms)
            await manager.close()
        return figures

    return asyncio.run(starts())


# ---------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="rounds of the four subjects")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk's open connections")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print("benchmark skipped: " + "; ".join(missing))
        return 0
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = LocalPaths(work / "home")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(paths.home), TEAL_LOCAL_PORT=str(free_port()))
        with contextlib.ExitStack() as running:
            deployed = deploy_hello(work, env)
            running.callback(teal, env, work / "hello", "local", "stop")
            bare_port, hop_port = free_port(), free_port()
            bare = running.enter_context(stopped_at_the_end(start_bare(work, bare_port)))
            hop = running.enter_context(stopped_at_the_end(start_one_hop(hop_port)))
            bare_url = f"http://127.0.0.1:{bare_port}/"
            hop_url = f"http://127.0.0.1:{hop_port}/hello"
            first = time.perf_counter()
            status, _ = get(deployed.api_url)
            first_ms = (time.perf_counter() - first) * 1000
            assert status == 200, status
            gateway = psutil.Process(json.loads(paths.gateway_state.read_text())["pid"])
            uvicorn = psutil.Process(bare.pid)
            one_hop = psutil.Process(hop.pid)
            rounds = [
                [
                    measure("bare uvicorn[standard]", bare_url, args, uvicorn),
                    measure("one hop, nothing else", hop_url, args, one_hop),
                    measure("gateway: API URL", deployed.api_url, args, gateway),
                    measure("gateway: domain port", deployed.domain_url, args, gateway),
                ]
                for _ in range(args.runs)
            ]
            cold = cold_start_ms(paths, deployed.api_id)
    report(rounds, cold, first_ms, load_before, os.getloadavg())
    return 0


def report(
    rounds: list[list[Figures]],
    cold: list[float],
    first_ms: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    print(
        f"{'run':>3} {'subject':<24} {'req/s':>8} {'x bare':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'server CPU':>11} {'workers CPU':>12}"
    )
    for number, figures in enumerate(rounds, 1):
        bare = figures[0].rps
        for f in figures:
            failed = f"  ({f.errors} failed)" if f.errors else ""
            workers = f"{f.workers_cpu_us:>9.1f} us" if f.workers_cpu_us else f"{'-':>12}"
            print(
                f"{number:>3} {f.name:<24} {f.rps:>8.0f} {f.rps / bare:>7.3f} "
                f"{f.p50_ms:>7.2f} {f.p99_ms:>7.2f} {f.server_cpu_us:>8.1f} us {workers}{failed}"
            )
    print("ratio to bare uvicorn, over the runs (best, median, worst):")
    for index, name in enumerate(f.name for f in rounds[0][1:]):
        ratios = sorted((r[index + 1].rps / r[0].rps for r in rounds), reverse=True)
        p99s = sorted(r[index + 1].p99_ms for r in rounds)
        print(
            f"    {name:<24} {ratios[0]:.3f}, {statistics.median(ratios):.3f}, {ratios[-1]:.3f}"
            f"   p99 best {p99s[0]:.2f} ms, worst {p99s[-1]:.2f} ms"
        )
    print("gateway / one hop (the part of the design's own ceiling it reaches), over the runs:")
    for index, name in enumerate(f.name for f in rounds[0][2:]):
        shares = sorted((r[index + 2].rps / r[1].rps for r in rounds), reverse=True)
        print(f"    {name:<24} {shares[0]:.3f}, {statistics.median(shares):.3f}, {shares[-1]:.3f}")
    print("CPU per request, median over the runs (server process; workers):")
    for index, name in enumerate(f.name for f in rounds[0]):
        server = statistics.median(r[index].server_cpu_us for r in rounds)
        workers_us = statistics.median(r[index].workers_cpu_us for r in rounds)
        print(f"    {name:<24} {server:.1f} us; {workers_us:.1f} us")
    print(
        f"worker cold start (spawn to handler imported): median {statistics.median(cold):.0f} ms"
        f" over {len(cold)}, min {min(cold):.0f} ms, max {max(cold):.0f} ms"
    )
    print(f"first request through a fresh gateway (unpack + cold start): {first_ms:.0f} ms")
    print(
        "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}"
        " (above ~0.5 others share the machine: the figures are noisy)".format(
            *load_before, *load_after
        )
    )
    print(
        json.dumps(
            {
                "rounds": [[f.__dict__ for f in figures] for figures in rounds],
                "cold_start_ms": cold,
                "first_request_ms": first_ms,
                "load_before": load_before,
                "load_after": load_after,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
