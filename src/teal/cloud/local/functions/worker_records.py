"""Which worker processes each gateway started: one small file per worker.

``$TEAL_HOME/workers/<pid>.json`` names a worker (its pid and start time)
and the gateway that started it (the same two). The gateway writes it as
soon as the worker process exists, before it waits for anything, and removes
it once the worker has exited, however it ended.

A gateway that did not stop cleanly (kill -9, a crash) leaves its records
behind, and maybe workers: a worker notices its gateway left and ends itself,
unless it cannot run to notice (stopped, or a handler holding the interpreter
in C code). So every gateway, as it starts, ends the recorded workers of
gateways that are gone (each one's whole process group: what its handler
started goes too) and removes their records; ``teal local stop`` does the
same once the gateway has stopped. A record whose worker is gone already is
simply removed.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from teal.cloud.local.paths import LocalPaths
from teal.processes import end_group_led_by, is_running, start_time, this_process


@dataclass(frozen=True)
class Owner:
    """A gateway process: its pid and start time (a pid alone is reused in time)."""

    pid: int
    started: float | None

    @classmethod
    def this_process(cls) -> Owner:
        return cls(*this_process())

    def is_running(self) -> bool:
        return is_running(self.pid, self.started)


@dataclass(frozen=True)
class WorkerRecord:
    pid: int
    started: float
    owner: Owner

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "started": self.started,
            "gateway_pid": self.owner.pid,
            "gateway_started": self.owner.started,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WorkerRecord:
        started = _float(data.get("started"))
        if started is None:
            raise ValueError("a worker record names its worker's start time")
        return cls(
            _int(data["pid"]),
            started,
            Owner(_int(data["gateway_pid"]), _float(data.get("gateway_started"))),
        )


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"not a pid: {value!r}")
    return value


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _file(paths: LocalPaths, pid: int) -> Path:
    return paths.worker_records / f"{pid}.json"


def record_worker(paths: LocalPaths, pid: int, owner: Owner) -> None:
    """Name a worker that was just started, whole or not at all (a reader never sees half).
    One gone already (no start time to name it by) needs no record."""
    started = start_time(pid)
    if started is None:
        return
    folder = paths.worker_records
    folder.mkdir(parents=True, exist_ok=True)
    record = WorkerRecord(pid, started, owner)
    scratch = folder / f".{pid}.tmp"
    scratch.write_text(json.dumps(record.to_json()))
    scratch.replace(_file(paths, pid))


def forget_worker(paths: LocalPaths, pid: int) -> None:
    """The worker has exited: its record goes."""
    _file(paths, pid).unlink(missing_ok=True)


def recorded_workers(paths: LocalPaths) -> list[WorkerRecord]:
    """Every worker record; one that cannot be read (cut short by a crash) is removed."""
    found = []
    for file in sorted(paths.worker_records.glob("*.json")):
        try:
            found.append(WorkerRecord.from_json(json.loads(file.read_text())))
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                file.unlink()
    return found


def end_orphaned_workers(paths: LocalPaths) -> list[int]:
    """End the recorded workers whose gateway is gone; the pids of those that still ran.

    A running gateway's workers are its own to end: they are left alone."""
    ended = []
    for record in recorded_workers(paths):
        if record.owner.is_running():
            continue
        alive = is_running(record.pid, record.started)
        if end_group_led_by(record.pid, record.started) and alive:
            ended.append(record.pid)
        forget_worker(paths, record.pid)
    return ended
