"""Benchmark of the local gateway: requests/s and latency beside a bare uvicorn app.

    /work/venv/bin/python benchmarks/gateway.py [--seconds 5] [--clients 2] [--connections 4]

Runs, in one go and on loopback:

1. a bare uvicorn "hello" ASGI app (the ceiling on this machine);
2. the local gateway process with a hello handler in a real worker, through
   the API endpoint URL and through a custom domain's own port.

For each it measures the peak requests/s with a closed loop of keep-alive
connections spread over client processes, then p50/p99 latency with an open
loop paced at half that peak. It also reports a worker's cold start. The
serving state is the tests' JSON-backed fake (the data plane does not need
the stack engine to be measured).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from teal.cloud.local.lifecycle import ensure_gateway, stop_gateway  # noqa: E402
from teal.cloud.local.model import DomainRoute  # noqa: E402
from teal.cloud.local.paths import LocalPaths  # noqa: E402
from teal.cloud.local.workers import WorkerManager  # noqa: E402
from test_gateway_support import FakeServingState, free_port  # noqa: E402

BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"hello":"world"}'})
"""


@dataclass(frozen=True)
class Figures:
    name: str
    peak_rps: float
    paced_rps: float
    p50_ms: float
    p99_ms: float


# ---------------------------------------------------------------- load generator


def _closed_loop(port: int, path: str, connections: int, seconds: float, out: object) -> None:
    """One client process: `connections` keep-alive connections in turn, as fast as possible."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(connections)]
    done, errors, end = 0, 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for conn in conns:
            conn.request("GET", path)
        for conn in conns:
            response = conn.getresponse()
            response.read()
            done += 1
            errors += response.status != 200
    out.put((done, errors))  # type: ignore[attr-defined]


def _open_loop(port: int, path: str, rate: float, seconds: float, out: object) -> None:
    """One client process: requests at a fixed rate, latency from the scheduled send time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    interval, start = 1.0 / rate, time.perf_counter()
    latencies: list[float] = []
    errors, n = 0, 0
    while True:
        scheduled = start + n * interval
        if scheduled > start + seconds:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        errors += response.status != 200
        latencies.append((time.perf_counter() - scheduled) * 1000)
        n += 1
    out.put((latencies, errors))  # type: ignore[attr-defined]


def _spawn(target: object, args_per_client: list[tuple[object, ...]]) -> list[object]:
    queue: multiprocessing.Queue[object] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=target, args=(*args, queue))  # type: ignore[arg-type]
        for args in args_per_client
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


def measure(name: str, port: int, path: str, args: argparse.Namespace) -> Figures:
    seconds, clients = args.seconds, args.clients
    # warm-up at full concurrency, so every worker the run needs is started before it
    _spawn(_closed_loop, [(port, path, args.connections, 1.0)] * clients)
    closed = _spawn(_closed_loop, [(port, path, args.connections, seconds)] * clients)
    total, errors = sum(r[0] for r in closed), sum(r[1] for r in closed)  # type: ignore[index]
    peak = total / seconds
    per_client = peak / 2 / clients
    opened = _spawn(_open_loop, [(port, path, per_client, seconds)] * clients)
    latencies = sorted(x for r in opened for x in r[0])  # type: ignore[index]
    errors += sum(r[1] for r in opened)  # type: ignore[index]
    if errors:
        print(f"  {name}: {errors} failed requests", file=sys.stderr)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Figures(name, peak, len(latencies) / seconds, statistics.median(latencies), p99)


# ---------------------------------------------------------------- subjects


def start_bare(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    (workdir / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, cwd=workdir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/")
            conn.getresponse().read()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the bare uvicorn app did not start")


def cold_start_ms(paths: LocalPaths, state: FakeServingState, runs: int = 5) -> list[float]:
    """Start fresh workers of the hello function; time to handler imported."""
    spec = next(f for f in state.functions.values() if f.name.endswith("-hello"))

    async def starts() -> list[float]:
        figures: list[float] = []
        for _ in range(runs):
            manager = WorkerManager(paths)
            await manager.invoke(spec, {"resource": "/hello", "httpMethod": "GET"}, "cold")
            figures.extend(manager.cold_starts_ms)
            await manager.close()
        return figures

    return asyncio.run(starts())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=4, help="connections per client")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = LocalPaths(work / "home")
        paths.home.mkdir()
        state = FakeServingState()
        state.deploy_app(paths, work / "app", api_id="bench", version="v1")
        domain_port = free_port()
        state.put_domain(DomainRoute("api.example.com", domain_port, {"": ("bench", "dev")}))
        state.save(paths)
        cold = cold_start_ms(paths, state)
        bare, bare_port = start_bare(work)
        port = free_port()
        try:
            ensure_gateway(paths, port, serving_state="test_gateway_support:JsonServingState")
            first = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/restapis/bench/dev/_user_request_/hello")
            conn.getresponse().read()
            first_ms = (time.perf_counter() - first) * 1000
            figures = [
                measure("bare uvicorn", bare_port, "/", args),
                measure("gateway: API URL", port, "/restapis/bench/dev/_user_request_/hello", args),
                measure("gateway: domain port", domain_port, "/hello", args),
            ]
        finally:
            stop_gateway(paths)
            bare.terminate()
            bare.wait()
    report(figures, cold, first_ms)
    return 0


def report(figures: list[Figures], cold: list[float], first_ms: float) -> None:
    bare = figures[0].peak_rps
    print(
        f"{'subject':<22} {'peak rps':>9} {'x bare':>7} {'paced rps':>10} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    for f in figures:
        print(
            f"{f.name:<22} {f.peak_rps:>9.0f} {f.peak_rps / bare:>7.2f} {f.paced_rps:>10.0f} "
            f"{f.p50_ms:>7.2f} {f.p99_ms:>7.2f}"
        )
    print(
        f"worker cold start (spawn to handler imported): median {statistics.median(cold):.0f} ms"
        f" over {len(cold)}, min {min(cold):.0f} ms, max {max(cold):.0f} ms"
    )
    print(f"first request through a fresh gateway (unpack + cold start): {first_ms:.0f} ms")
    print(
        json.dumps(
            {
                "figures": [f.__dict__ for f in figures],
                "cold_start_ms": cold,
                "first_request_ms": first_ms,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
