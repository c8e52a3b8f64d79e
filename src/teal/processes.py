"""Processes on this host, through psutil: whether one still runs, what it runs, how much
memory it holds, stopping it (or its whole process group).

The one place teal asks about processes or signals a group, so it works
wherever psutil does (Linux, macOS, ...), with or without ``/proc``. (A
worker ends its own group itself: it runs with the standard library only.)
Also how teal runs a command it must bound in time and clean up after
(:func:`run_bounded`): the import of the user's app.

A pid alone does not name a process for long (the kernel reuses pids), so a
process is named by its pid and its start time wherever teal records one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


def run_bounded(
    command: Sequence[str],
    *,
    cwd: Path,
    output: Path,
    timeout_s: float,
    at_deadline: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> int | None:
    """Run ``command`` in a process group of its own and end the whole group afterwards.

    Its stdout and stderr go to the file ``output``, not to a pipe: a process
    it starts in the background inherits the file, and nothing waits for the
    end of a pipe that such a process keeps open. teal waits for the command
    itself, at most ``timeout_s``; then (or when the command ended, or when
    teal is interrupted) it SIGKILLs the group, so that nothing the command
    started outlives the answer, and reaps the command. ``at_deadline`` runs
    first when the command is still running at the deadline (to ask it where
    it stands). The command's exit status (negative: the signal that ended
    it), or None when the deadline passed.

    The group is killed while the command is not yet reaped: until then its
    pid, which is the group's id, cannot name another process.
    """
    with output.open("wb") as out:
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=cwd,
            process_group=0,  # its own group: a terminal's Ctrl-C reaches teal alone
        )
    try:
        ended = _ended(child.pid, timeout_s)
        if not ended and at_deadline is not None:
            at_deadline(child)
    finally:
        kill_group(child.pid)
        child.wait()
    return child.returncode if ended else None


def _ended(pid: int, timeout_s: float) -> bool:
    """Whether the child ``pid`` ended within ``timeout_s``; it is left unreaped."""
    deadline = time.monotonic() + timeout_s
    pause = 0.001
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.01)  # at most 10 ms after the end: polling costs nothing
    return True


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
