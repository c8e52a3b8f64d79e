"""Starting, finding and stopping the local gateway process.

The gateway runs detached from whoever started it (its own session, stdin
from /dev/null, output to ``$TEAL_HOME/gateway.log``), so a command that
starts it on demand returns as soon as its own work is done.
``gateway.json`` names the running gateway; a stale one (dead pid) is
removed on sight.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teal.cloud.local.gateway.own_endpoints import HEALTH_PATH, SERVICE, token_headers
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import private_home
from teal.processes import command_line, is_running, stop
from teal.runtime.errors import OperationError

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
PORT_GRACE_S = 2.0
ENTRY_MODULE = "teal.cloud.local.gateway.main"
# What a gateway an earlier teal started runs: it is still ours to find and to stop.
EARLIER_ENTRY_MODULES = ("teal.cloud.local.gateway_main",)


@dataclass(frozen=True)
class UnboundDomain:
    """A custom domain the gateway cannot serve: another program holds its port."""

    domain: str
    port: int
    reason: str


@dataclass(frozen=True)
class WorkerStatus:
    """One worker process of the gateway (an execution environment)."""

    function: str
    version: str  # the code's SHA-256, shortened
    pid: int
    state: str  # "idle" or "busy"
    idle_s: float
    invocations: int
    rss_bytes: int

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GatewayStatus:
    running: bool
    pid: int | None = None
    port: int | None = None
    started_at: float | None = None
    unbound_domains: tuple[UnboundDomain, ...] = ()
    workers: tuple[WorkerStatus, ...] = ()
    gateway_rss_bytes: int | None = None  # None: not running, or an older gateway

    @property
    def workers_rss_bytes(self) -> int:
        return sum(w.rss_bytes for w in self.workers)

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    def uptime_s(self, now: float) -> float | None:
        return None if self.started_at is None else max(0.0, now - self.started_at)


def log_file(paths: LocalPaths) -> Path:
    return paths.home / "gateway.log"


def health(paths: LocalPaths, port: int, timeout_s: float = 1.0) -> dict[str, Any] | None:
    """The gateway's health answer on this port, asked with this home's token; None if
    nothing teal answers there. A teal gateway that refuses the token (another home's)
    answers ``{"service": ...}`` alone: who it is, and nothing of its home."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", HEALTH_PATH, headers=token_headers(paths))
        response = connection.getresponse()
        body = response.read()
        if response.status not in (200, 403):
            return None
        answer: dict[str, Any] = json.loads(body)
        if answer.get("service") != SERVICE:
            return None
        return answer if response.status == 200 else {"service": SERVICE}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def port_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.connect()
        return True
    except ConnectionRefusedError:
        return False
    except OSError:  # a full backlog times out: something holds the port all the same
        return True
    finally:
        connection.close()


def read_record(paths: LocalPaths) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(paths.gateway_state.read_text())
    except (OSError, ValueError):
        return None
    return record


def gateway_status(paths: LocalPaths) -> GatewayStatus:
    """The running gateway of this TEAL_HOME; a stale gateway.json is removed."""
    record = read_record(paths)
    if record is None:
        return GatewayStatus(False)
    pid, port = int(record.get("pid", 0)), int(record.get("port", 0))
    answer = health(paths, port) if pid and is_running(pid) else None
    if answer is None or answer.get("pid") != pid:
        if not (pid and is_running(pid)):
            paths.gateway_state.unlink(missing_ok=True)
        return GatewayStatus(False)
    started_at = float(record.get("started_at") or 0) or None
    return _status_from(answer, port, started_at)


def ensure_gateway(
    paths: LocalPaths,
    port: int,
    *,
    serving_state: str | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> GatewayStatus:
    """Return the running gateway, starting one in the background if needed."""
    status = gateway_status(paths)
    if status.running:
        return status
    _stop_unresponsive(paths)
    running = _claim_port(paths, port)
    if running is not None:
        return running
    process = _spawn(paths, port, serving_state)
    return _await_ready(paths, process, port, timeout_s)


def _claim_port(paths: LocalPaths, port: int) -> GatewayStatus | None:
    """Check the port is free; a gateway of this home that answers there is returned.

    A gateway killed a moment ago may still hold its socket while the kernel
    tears it down, so a silent listener gets a short grace period.
    """
    deadline = time.monotonic() + PORT_GRACE_S
    while port_answers(port):
        other = health(paths, port)
        if other is not None and other.get("home") == str(paths.home):
            return _status_from(other, port)  # started by another command just now
        if other is not None or time.monotonic() > deadline:
            where = _holder(other)
            raise OperationError(
                f"port {port} is already used by {where}",
                where="local gateway",
                hint="stop it, or set TEAL_LOCAL_PORT to a free port",
            )
        time.sleep(0.1)
    return None


def _holder(answer: dict[str, Any] | None) -> str:
    """Who holds a port, from what its health call answered."""
    if answer is None:
        return "another program"
    home = answer.get("home")
    return f"the teal gateway of {home}" if home else "the teal gateway of another TEAL_HOME"


def _spawn(paths: LocalPaths, port: int, serving_state: str | None) -> subprocess.Popen[bytes]:
    private_home(paths.home)
    command = [sys.executable, "-m", ENTRY_MODULE, "--home", str(paths.home), "--port", str(port)]
    if serving_state:
        command += ["--serving-state", serving_state]
    with log_file(paths).open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=paths.home,
        )


def _await_ready(
    paths: LocalPaths, process: subprocess.Popen[bytes], port: int, timeout_s: float
) -> GatewayStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            winner = health(paths, port)  # another command may have started it first
            if winner is not None and winner.get("home") == str(paths.home):
                return _status_from(winner, port)
            raise _start_failed(paths, f"the gateway exited with status {process.returncode}")
        answer = health(paths, port, timeout_s=0.5)
        if answer is not None and answer.get("pid") == process.pid and _names(paths, process.pid):
            return _status_from(answer, port)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise _start_failed(paths, f"the gateway did not answer within {timeout_s:g}s")


def _names(paths: LocalPaths, pid: int) -> bool:
    """gateway.json names this process: it may answer health a moment before it writes
    the file, and a caller that stopped it in that moment would not find it to stop."""
    record = read_record(paths)
    return record is not None and record.get("pid") == pid


def _status_from(
    answer: dict[str, Any], port: int, started_at: float | None = None
) -> GatewayStatus:
    """A running gateway's status from its health answer."""
    memory = answer.get("memory") or {}
    gateway_rss = memory.get("gateway_rss_bytes")
    return GatewayStatus(
        True,
        int(answer["pid"]),
        port,
        started_at if started_at is not None else float(answer.get("started_at") or 0),
        _unbound_domains(answer),
        tuple(_worker_status(w) for w in answer.get("workers") or ()),
        int(gateway_rss) if gateway_rss is not None else None,
    )


def _worker_status(data: dict[str, Any]) -> WorkerStatus:
    return WorkerStatus(
        str(data["function"]),
        str(data["version"]),
        int(data["pid"]),
        str(data["state"]),
        float(data.get("idle_s") or 0),
        int(data.get("invocations") or 0),
        int(data.get("rss_bytes") or 0),
    )


def _unbound_domains(answer: dict[str, Any]) -> tuple[UnboundDomain, ...]:
    return tuple(
        UnboundDomain(str(u["domain"]), int(u["port"]), str(u["reason"]))
        for u in answer.get("unbound_domains") or ()
    )


def _start_failed(paths: LocalPaths, what: str) -> OperationError:
    last = _log_tail(paths)
    return OperationError(
        f"{what}: {last}" if last else what,
        where="local gateway",
        hint=f"see {log_file(paths)} for its output",
    )


def _log_tail(paths: LocalPaths) -> str:
    """The gateway log's last line (its error, when it failed to start)."""
    try:
        lines = log_file(paths).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _stop_unresponsive(paths: LocalPaths) -> None:
    """A gateway.json whose process lives but does not answer: end that gateway."""
    record = read_record(paths)
    pid = int(record.get("pid", 0)) if record else 0
    if pid and is_running(pid) and _is_gateway_process(pid):
        stop(pid, STOP_TIMEOUT_S)
    paths.gateway_state.unlink(missing_ok=True)


def _is_gateway_process(pid: int) -> bool:
    names = (ENTRY_MODULE, *EARLIER_ENTRY_MODULES)
    return any(name in part for part in command_line(pid) for name in names)


def stop_gateway(paths: LocalPaths, timeout_s: float = STOP_TIMEOUT_S) -> GatewayStatus:
    """Stop the running gateway; what was running (``running=False`` if nothing)."""
    record = read_record(paths)
    pid = int(record.get("pid", 0)) if record else 0
    if not (pid and is_running(pid) and _is_gateway_process(pid)):
        paths.gateway_state.unlink(missing_ok=True)
        return GatewayStatus(False)
    status = GatewayStatus(
        True,
        pid,
        int(record.get("port", 0)) if record else None,
        float(record.get("started_at") or 0) if record else None,
    )
    stop(pid, timeout_s)
    paths.gateway_state.unlink(missing_ok=True)
    return status
