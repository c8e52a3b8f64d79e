"""Processes on this host, through psutil: whether one still runs, what it runs, how much
memory it holds, stopping it (or its whole process group).

The one place teal asks about processes or signals a group, so it works
wherever psutil does (Linux, macOS, ...), with or without ``/proc``. (A
worker ends its own group itself: it runs with the standard library only.)

A pid alone does not name a process for long (the kernel reuses pids), so a
process is named by its pid and its start time wherever teal records one.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

START_TIME_TOLERANCE_S = 1.0


def this_process() -> tuple[int, float | None]:
    """This process's pid and start time."""
    return os.getpid(), start_time(os.getpid())


def start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def is_running(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``started`` is given, is that process."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < START_TIME_TOLERANCE_S
    except psutil.NoSuchProcess:
        return False
    except (psutil.AccessDenied, OSError):  # it exists, and belongs to someone else
        return True


def command_line(pid: int) -> list[str]:
    """The process's command line, or [] when it is gone (or not ours to read)."""
    try:
        return list(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return []


def stop(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``; waits for the end."""
    try:
        process = psutil.Process(pid)
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout=5.0)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        return


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory (RSS), or None once it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def boot_time() -> float:
    """When this host booted, in seconds since the epoch."""
    return float(psutil.boot_time())


def kill_group(pgid: int) -> None:
    """SIGKILL a process group: its leader and whatever the leader started. Nothing when
    it is gone already (or is not ours to signal)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def end_group_led_by(pid: int, started: float | None) -> bool:
    """SIGKILL the process group the process ``pid`` (started at ``started``) leads, and
    whatever is left of it when that process is gone; whether a group was signalled.

    A group keeps its id while any member runs, so the kernel gives its number to no
    new process meanwhile; a process that holds the number with another start time
    leads a group of its own, which is left alone.
    """
    if is_running(pid) and not is_running(pid, started):
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9, the number itself for one this system has no name for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
