"""What the gateway's supervisor (:mod:`.supervisor`) and its gateway share, and what
status reads of them.

- ``supervisor.json``: the supervisor's record (:class:`Supervision`): its
  pid, its gateway's pid and state, and the gateway's restarts (how many,
  when last, why), which ``teal local status``, ``teal status`` and the
  console report;
- :class:`SupervisorLink`: the gateway's end of the two's socket pair, over
  which the gateway gets its token and the listening sockets it inherits, and
  hands over those it binds;
- :func:`bind`: a listening socket on loopback, for both.

Light on purpose: the lifecycle, which every teal command loads, reads the
record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teal.cloud.local.paths import LocalPaths
from teal.processes import is_running
from teal.runtime.errors import OperationError

log = logging.getLogger("teal.local.supervisor")

HOST = "127.0.0.1"
BACKLOG = 1024  # what waits while no gateway accepts: a restart's worth of connections
GATEWAY_MODULE = "teal.cloud.local.gateway.main"  # what the supervisor runs
MESSAGE_BYTES = 4096
STATE_STARTING, STATE_SERVING, STATE_RESTARTING = "starting", "serving", "restarting"


class CannotListen(OperationError):
    """A port could not be bound; ``reason`` is the system's word for why."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(
            f"cannot listen on {HOST}:{port}: {reason}",
            where="local gateway",
            hint="another program uses this port; set TEAL_LOCAL_PORT to a free one",
        )
        self.reason = reason


def bind(port: int) -> socket.socket:
    """A listening socket on loopback, or :class:`CannotListen`."""
    # proto given explicitly: asyncio turns Nagle off only on sockets marked as TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(port, exc.strerror or str(exc)) from exc
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------- what status reads


@dataclass(frozen=True)
class Supervision:
    """What ``supervisor.json`` says: the supervisor, its gateway, and its restarts."""

    pid: int
    started: float | None  # the supervisor's start time (names its pid)
    port: int
    state: str  # starting, serving, restarting
    gateway_pid: int | None
    restarts: int = 0
    last_restart_at: float | None = None
    last_restart_reason: str | None = None
    down_since: float | None = None  # while restarting: when the gateway died

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Supervision:
        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        gateway = data.get("gateway_pid")
        reason = data.get("last_restart_reason")
        return cls(
            int(data["pid"]),
            number("started"),
            int(data["port"]),
            str(data["state"]),
            int(gateway) if isinstance(gateway, int) else None,
            int(data.get("restarts") or 0),
            number("last_restart_at"),
            reason if isinstance(reason, str) else None,
            number("down_since"),
        )

    def is_running(self) -> bool:
        return is_running(self.pid, self.started)


def read_supervision(paths: LocalPaths) -> Supervision | None:
    """The supervisor's record, whether it still runs or not (None: there is none)."""
    try:
        return Supervision.from_json(json.loads(paths.supervisor_state.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_supervision(paths: LocalPaths) -> Supervision | None:
    """The record of the supervisor that runs now; None if there is none."""
    found = read_supervision(paths)
    return found if found is not None and found.is_running() else None


def write_atomically(target: Path, data: dict[str, Any]) -> None:
    scratch = target.with_name(f".{target.stem}-{os.getpid()}.json")
    scratch.write_text(json.dumps(data))
    scratch.replace(target)


# ---------------------------------------------------------------- the gateway's side


class SupervisorLink:
    """The gateway's end of its supervisor's socket pair, and the sockets it inherited."""

    def __init__(self, sock: socket.socket, inherited: dict[int, socket.socket]) -> None:
        self._sock = sock
        self._inherited = inherited
        self._lost = False

    @classmethod
    def from_arguments(cls, link_fd: int, listeners: list[str]) -> SupervisorLink:
        inherited = {}
        for item in listeners:
            port, _, fd = item.partition(":")
            sock = socket.socket(fileno=int(fd))
            sock.setblocking(False)
            inherited[int(port)] = sock
        return cls(socket.socket(fileno=link_fd), inherited)

    def token(self, timeout_s: float = 5.0) -> str:
        """The token the supervisor gives every gateway it starts (sent before the start)."""
        self._sock.settimeout(timeout_s)
        message = json.loads(self._sock.recv(MESSAGE_BYTES))
        return str(message["token"])

    def take(self, port: int) -> socket.socket | None:
        """The listening socket for ``port`` the supervisor handed over, if it did."""
        return self._inherited.pop(port, None)

    def hold(self, port: int, sock: socket.socket) -> None:
        """Give the supervisor a copy of a socket just bound: it outlives this gateway."""
        self._send({"hold": port}, [sock.fileno()])

    def drop(self, port: int, timeout_s: float = 1.0) -> None:
        """The port closes: the supervisor lets go of its copy first, so that no connection
        lands in a queue nobody will read; returns once it said so (or did not in time)."""
        if not self._send({"drop": port}):
            return
        self._sock.settimeout(timeout_s)
        with contextlib.suppress(OSError, ValueError):
            while json.loads(self._sock.recv(MESSAGE_BYTES)).get("dropped") != port:
                pass

    def release_unused(self) -> list[int]:
        """Inherited sockets of ports no longer served (a domain went while no gateway
        ran): closed, here and in the supervisor."""
        unused = sorted(self._inherited)
        for port in unused:
            self.drop(port)
            self._inherited.pop(port).close()
        return unused

    def ready(self) -> None:
        self._send({"ready": True})

    def _send(self, message: dict[str, Any], fds: list[int] | None = None) -> bool:
        """Send, unless the supervisor is gone (the gateway serves on without it)."""
        if self._lost:
            return False
        data = json.dumps(message).encode()
        try:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.send(data)
        except OSError:
            self._lost = True
            log.warning("the supervisor is gone: this gateway runs on unsupervised")
            return False
        return True
