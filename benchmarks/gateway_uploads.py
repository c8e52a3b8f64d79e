"""The local gateway's memory under many slow uploads at once.

    python benchmarks/gateway_uploads.py [--uploads 80] [--size-mb 10] [--seconds 8]

Deploys a small app (one POST route that answers the length of the body it
got) into a private TEAL_HOME, then measures the gateway process's resident
memory (RSS, sampled every 20 ms with psutil, and the kernel's own peak,
``VmHWM``) through three loads, each of ``--uploads`` connections at once,
every one sending its body slowly (the whole body over ``--seconds``):

1. a baseline: small bodies (64 kB), which the function receives;
2. bodies of ``--size-mb`` MB, by default API Gateway's 10 MB limit: within
   it, but over Lambda's 6 MB event limit, so AWS answers each with 413;
3. bodies of ``--held-mb`` MB (default 4), within both limits: the function
   receives each one, unless the gateway holds as many bodies as it will and
   throttles the upload (429).

Before the loads and after them (once the gateway is idle again) it prints
the gateway's RSS, and for each load the answers by status. The client is
Python (asyncio), which is enough: what is measured is the gateway's memory,
not latency.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from loopback import free_port, teal_json

TEAL_TOML = """
[app]
name = "uploads"
entry = "app:app"
runtime = "python3.12"
"""

APP = """
from teal import App

app = App()


@app.route("/upload", methods=["POST"], function="upload")
def upload(request):
    return {"received": len(request.body)}
"""

MB = 1024 * 1024
PIECE = 64 * 1024  # what a slow client writes at a time


def peak_rss(pid: int) -> int:
    """The kernel's peak resident set size of the process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def sampled_peak(process: psutil.Process) -> Iterator[list[int]]:
    """The highest RSS seen while the block runs, in the list yielded (one item)."""
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


async def slow_upload(host: str, port: int, path: str, size: int, seconds: float) -> int:
    """POST ``size`` bytes of text in pieces spread over ``seconds``; the answer's status."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        pieces = max(1, -(-size // PIECE))
        pause = seconds / pieces
        sent = 0
        while sent < size:
            piece = min(PIECE, size - sent)
            writer.write(b"a" * piece)
            sent += piece
            await writer.drain()
            await asyncio.sleep(pause)
        status_line = await reader.readline()
        await reader.read()  # the rest of the answer, up to the close
        return int(status_line.split()[1]) if status_line else 0
    except (ConnectionError, OSError):
        return 0  # the gateway closed the connection: counted as no answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def uploads(url: str, count: int, size: int, seconds: float) -> collections.Counter[int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path.rstrip("/") + "/upload"
    statuses = await asyncio.gather(
        *(slow_upload(host, port, path, size, seconds) for _ in range(count))
    )
    return collections.Counter(statuses)


def settle(process: psutil.Process, seconds: float) -> int:
    """The gateway's RSS once it has had ``seconds`` with nothing to do."""
    time.sleep(seconds)
    return int(process.memory_info().rss)


def load(
    label: str, process: psutil.Process, url: str, args: argparse.Namespace, size: int
) -> None:
    started = time.monotonic()
    with sampled_peak(process) as peak:
        statuses = asyncio.run(uploads(url, args.uploads, size, args.seconds))
    elapsed = time.monotonic() - started
    answers = ", ".join(
        f"{count} x {status or 'none'}" for status, count in sorted(statuses.items())
    )
    print(f"{label:<38} peak RSS {peak[0] / MB:7.1f} MB   ({elapsed:4.1f} s; answers: {answers})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=80, help="connections at once")
    parser.add_argument("--size-mb", type=float, default=10.0, help="the large bodies")
    parser.add_argument("--held-mb", type=float, default=4.0, help="the bodies within limits")
    parser.add_argument("--seconds", type=float, default=8.0, help="each upload's duration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = work / "uploads"
        project.mkdir()
        (project / "teal.toml").write_text(TEAL_TOML)
        (project / "app.py").write_text(APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAL_")}
        env.update(TEAL_HOME=str(work / "home"), TEAL_LOCAL_PORT=str(free_port()))
        try:
            run(args, project, env)
        finally:
            teal_json(env, project, "local", "stop")
    return 0


def run(args: argparse.Namespace, project: Path, env: dict[str, str]) -> None:
    deployed = teal_json(env, project, "deploy")
    url = deployed["endpoint"]
    status = teal_json(env, project, "local", "status")
    gateway = psutil.Process(int(status["pid"]))
    asyncio.run(uploads(url, 1, 1024, 0.0))  # a worker started, the route's state read
    print(f"{'idle, before the loads':<38} RSS      {settle(gateway, 1.0) / MB:7.1f} MB")
    small = 64 * 1024
    load(f"{args.uploads} x 64 kB (baseline)", gateway, url, args, small)
    load(f"{args.uploads} x {args.size_mb:g} MB", gateway, url, args, int(args.size_mb * MB))
    load(f"{args.uploads} x {args.held_mb:g} MB", gateway, url, args, int(args.held_mb * MB))
    print(f"{'idle, after the loads (5 s)':<38} RSS      {settle(gateway, 5.0) / MB:7.1f} MB")
    print(f"{'the kernel peak (VmHWM)':<38}          {peak_rss(gateway.pid) / MB:7.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
