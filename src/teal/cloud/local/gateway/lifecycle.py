"""Starting, finding and stopping the local gateway process.

What teal starts is the gateway's supervisor (:mod:`.supervisor`), which
runs the gateway and starts a new one when it dies. It runs detached from
whoever started it (its own session, stdin from /dev/null, output to
``$TEAL_HOME/gateway.log``), so a command that starts it on demand returns
as soon as its own work is done. ``gateway.json`` names the running gateway;
a stale one (dead pid) is removed on sight. ``supervisor.json`` names the
supervisor and says how often, when and why the gateway was restarted: while
it starts a new gateway, a command waits for that one rather than start
another. A gateway an earlier teal started, unsupervised, is still found and
stopped.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from teal.cloud.base import ServingHealth
from teal.cloud.local.gateway.own_endpoints import HEALTH_PATH, SERVICE, token_headers
from teal.cloud.local.gateway.supervision import (
    GATEWAY_MODULE,
    STATE_STARTING,
    Supervision,
    running_supervision,
)
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import private_home
from teal.processes import command_line, is_running, stop
from teal.progress import notices
from teal.runtime.errors import OperationError

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
PORT_GRACE_S = 2.0
ENTRY_MODULE = "teal.cloud.local.gateway.supervisor"  # what teal starts; it runs GATEWAY_MODULE
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
    lambda_version: str = "$LATEST"  # the published version it runs ("3"), or $LATEST

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
    supervision: Supervision | None = None  # None: no supervisor runs

    @property
    def workers_rss_bytes(self) -> int:
        return sum(w.rss_bytes for w in self.workers)

    @property
    def state(self) -> Literal["serving", "starting", "restarting", "stopped"]:
        """``serving``; ``starting`` (a command started it, it does not answer yet);
        ``restarting`` (it died, its supervisor starts it again); ``stopped``."""
        if self.running:
            return "serving"
        if self.supervision is None:
            return "stopped"
        first = self.supervision.state == STATE_STARTING  # written before it ever served
        return "starting" if first else "restarting"

    def health(self) -> ServingHealth:
        """What ``teal status`` says of the gateway, restarts included."""
        supervision = self.supervision
        return ServingHealth(
            self.state,
            self.url,
            self.pid,
            supervision.restarts if supervision else 0,
            _when(supervision.last_restart_at) if supervision else None,
            supervision.last_restart_reason if supervision else None,
            _when(supervision.down_since) if supervision else None,
        )

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


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def gateway_status(paths: LocalPaths) -> GatewayStatus:
    """The running gateway of this TEAL_HOME, and its supervisor's account of it; a stale
    gateway.json is removed."""
    supervision = running_supervision(paths)
    down = GatewayStatus(
        False, port=supervision.port if supervision else None, supervision=supervision
    )
    record = read_record(paths)
    if record is None:
        return down
    pid, port = int(record.get("pid", 0)), int(record.get("port", 0))
    answer = health(paths, port) if pid and is_running(pid) else None
    if answer is None or answer.get("pid") != pid:
        if not (pid and is_running(pid)):
            paths.gateway_state.unlink(missing_ok=True)
        return down
    started_at = float(record.get("started_at") or 0) or None
    return _status_from(answer, port, started_at, supervision)


def ensure_gateway(
    paths: LocalPaths,
    port: int,
    *,
    serving_state: str | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> GatewayStatus:
    """Return the running gateway, starting one in the background if needed (or waiting
    for the one its supervisor is starting)."""
    status = gateway_status(paths)
    if status.running:
        return status
    if status.supervision is not None:
        restarted = _await_supervised(paths, timeout_s)
        if restarted is not None:
            return restarted
    _stop_unresponsive(paths)
    running = _claim_port(paths, port, timeout_s)
    if running is not None:
        return running
    process = _spawn(paths, port, serving_state)
    started = _await_ready(paths, process, port, timeout_s)
    if process.poll() is not None:
        return started  # another command's gateway won the port: it said so itself
    notices.info(
        f"started the local gateway in the background at http://127.0.0.1:{port} (log: "
        f"{log_file(paths)}); it keeps serving after this command: teal local status shows "
        "it, teal local stop ends it"
    )
    return started


def _await_supervised(paths: LocalPaths, timeout_s: float) -> GatewayStatus | None:
    """The gateway a running supervisor starts, once it answers; None if the supervisor
    ends, or its gateway does not answer in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = gateway_status(paths)
        if status.running:
            return status
        if status.supervision is None:
            return None
        time.sleep(0.05)
    return None


def _claim_port(paths: LocalPaths, port: int, timeout_s: float) -> GatewayStatus | None:
    """Check the port is free; a gateway of this home that answers there is returned.

    A gateway killed a moment ago may still hold its socket while the kernel
    tears it down, so a silent listener gets a short grace period; the
    supervisor another command started just now holds the port before its
    gateway answers, and is waited for.
    """
    deadline = time.monotonic() + PORT_GRACE_S
    while port_answers(port):
        if running_supervision(paths) is not None:
            return _await_supervised(paths, timeout_s)
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
            winner = _winner(paths, port, deadline)  # another command started one first?
            if winner is not None:
                return winner
            raise _start_failed(paths, f"the gateway exited with status {process.returncode}")
        answer = health(paths, port, timeout_s=0.5)
        if answer is not None and _names(paths, answer.get("pid"), process.pid):
            return _status_from(answer, port, supervision=running_supervision(paths))
        time.sleep(0.05)
    process.terminate()  # the supervisor stops the gateway it started
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    raise _start_failed(paths, f"the gateway did not answer within {timeout_s:g}s")


def _winner(paths: LocalPaths, port: int, deadline: float) -> GatewayStatus | None:
    """The gateway of this home another command started, once it answers."""
    if running_supervision(paths) is not None:
        return _await_supervised(paths, max(0.0, deadline - time.monotonic()))
    winner = health(paths, port)
    if winner is not None and winner.get("home") == str(paths.home):
        return _status_from(winner, port)
    return None


def _names(paths: LocalPaths, gateway_pid: object, supervisor_pid: int) -> bool:
    """gateway.json names the gateway that answered, run by the supervisor we started: it
    may answer health a moment before it writes the file, and a caller that stopped it
    in that moment would not find it to stop."""
    record = read_record(paths)
    return (
        record is not None
        and record.get("pid") == gateway_pid
        and record.get("supervisor_pid") == supervisor_pid
    )


def _status_from(
    answer: dict[str, Any],
    port: int,
    started_at: float | None = None,
    supervision: Supervision | None = None,
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
        supervision,
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
        str(data.get("lambda_version") or "$LATEST"),  # an older gateway does not say
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
    """A gateway (or its supervisor) that lives but does not answer: end it."""
    _stop_processes(paths, STOP_TIMEOUT_S)


def _is_gateway_process(pid: int) -> bool:
    names = (ENTRY_MODULE, GATEWAY_MODULE, *EARLIER_ENTRY_MODULES)
    return any(name in part for part in command_line(pid) for name in names)


def _stop_processes(paths: LocalPaths, timeout_s: float) -> tuple[int | None, int | None]:
    """Stop the supervisor (which stops its gateway), then a gateway still running (one
    whose supervisor was killed, or an unsupervised one), then whatever workers they
    left; remove their records. The supervisor's pid and the gateway's, if they ran."""
    supervision = running_supervision(paths)
    supervisor_pid = supervision.pid if supervision is not None else None
    if supervisor_pid is not None and not _is_gateway_process(supervisor_pid):
        supervisor_pid = None  # the record names a process that is none of ours
    record = read_record(paths)
    gateway_pid: int | None = int(record.get("pid", 0)) if record else 0
    if not (gateway_pid and is_running(gateway_pid) and _is_gateway_process(gateway_pid)):
        gateway_pid = None
    if supervisor_pid is not None:
        stop(supervisor_pid, timeout_s)
    if gateway_pid is not None and is_running(gateway_pid):
        stop(gateway_pid, timeout_s)
    # workers of a gateway that could not stop them; imported here: the CLI's imports
    # load no part of the functions (tests/test_layering.py)
    from teal.cloud.local.functions.worker_records import end_orphaned_workers

    end_orphaned_workers(paths)
    paths.gateway_state.unlink(missing_ok=True)
    paths.supervisor_state.unlink(missing_ok=True)
    return supervisor_pid, gateway_pid


def stop_gateway(paths: LocalPaths, timeout_s: float = STOP_TIMEOUT_S) -> GatewayStatus:
    """Stop the running gateway and its supervisor; what was running (``running=False``
    if nothing: ``pid`` is the gateway's, or the supervisor's while it had none)."""
    record = read_record(paths) or {}
    supervisor_pid, gateway_pid = _stop_processes(paths, timeout_s)
    if supervisor_pid is None and gateway_pid is None:
        return GatewayStatus(False)
    return GatewayStatus(
        True,
        gateway_pid or supervisor_pid,
        int(record.get("port", 0)) or None,
        float(record.get("started_at") or 0) or None,
    )
