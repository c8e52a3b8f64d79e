"""Processes on this host, through psutil: whether one still runs, and stopping one.

A pid alone does not name a process for long (the kernel reuses pids), so a
process is named by its pid and its start time wherever teal records one.
"""

from __future__ import annotations

import os

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
