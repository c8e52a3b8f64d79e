"""The app's import, run as Lambda runs a function's init: bounded, and cleaned up after.

teal reads an app by importing it (:mod:`teal.project.introspect`, in the
runtime's Python). The module is the user's code, and anything may happen
at its top level: it may take forever, crash the interpreter, end its
process, or start processes of its own. So the import runs in a process
group of its own (:func:`teal.processes.run_bounded`), for at most
``$TEAL_IMPORT_TIMEOUT`` seconds (10 by default, as Lambda bounds an init);
when it has answered, or ended, or run out of time, the whole group is
killed, so nothing it started keeps a deploy waiting or outlives it. Every
way the import can fail without an answer becomes an :class:`AppLoadError`
(exit 2) that names the line of the user's code it was at, when a stack
says so.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teal.processes import run_bounded
from teal.project.runtimes import RuntimeWorld
from teal.project.settings import import_timeout
from teal.runtime.errors import AppLoadError

INTROSPECT = Path(__file__).resolve().with_name("introspect.py")
STACKS_WAIT_S = 1.0  # how long a slow import's stack may take to be written, at most
# Signals after which faulthandler has written the crashed interpreter's stacks.
CRASHES = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT})

# What the user is told about how teal imports the app: it is true of both
# clouds, where each function imports the module before its first request.
IMPORTED_AS = (
    "teal imports your module to read its routes as each deployed function does before its "
    "first request: with the runtime's Python, your code, requirements.txt and the "
    "runtime's SDK, nothing else"
)

_THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-fA-F]+|^Stack \(most recent call first\)")
_FRAME = re.compile(r'^\s+File "(?P<file>.*)", line (?P<line>\d+) in ')


def import_app(world: RuntimeWorld, entry: str, root: Path) -> dict[str, Any]:
    """What the import found (see :mod:`teal.project.introspect`), or AppLoadError when
    it gave no answer: it ran out of time, crashed, or ended its process."""
    timeout_s = import_timeout()
    with tempfile.TemporaryDirectory(prefix="teal-introspect-") as scratch:
        result, stacks, output = (Path(scratch) / n for n in ("found.json", "stacks", "output"))
        command = world.command(INTROSPECT, str(result), str(stacks), entry, *map(str, world.paths))
        status = run_bounded(
            command,
            cwd=world.paths[0],
            output=output,
            timeout_s=timeout_s,
            at_deadline=lambda child: _ask_where(child, stacks),
        )
        _echo(output.read_bytes())  # the app's output is for the user, never a result: stderr
        found = _answer(result)
        if found is not None:
            return found
        dump = stacks.read_text(encoding="utf-8", errors="replace")
        where = deepest_user_frame(
            main_thread_frames(dump), root, world.paths[1:], module_file(root, entry)
        )
        if status is None:
            raise _too_slow(timeout_s, where)
        if -status in CRASHES:
            _echo(dump.encode())  # the crash's stacks, as Python would print them
        raise _ended(status, where)


def _ask_where(child: subprocess.Popen[bytes], stacks: Path) -> None:
    """Have the import write its stacks (faulthandler, on SIGUSR1) before it is killed."""
    child.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + STACKS_WAIT_S
    while time.monotonic() < deadline:
        text = stacks.read_text(encoding="utf-8", errors="replace")
        if _main_thread(text) is not None:
            return
        time.sleep(0.01)


def _echo(data: bytes) -> None:
    if data:
        sys.stderr.write(data.decode("utf-8", "replace"))
        sys.stderr.flush()


def _answer(result: Path) -> dict[str, Any] | None:
    """The import's answer, or None when it never wrote one."""
    try:
        found = json.loads(result.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _too_slow(timeout_s: float, where: str) -> AppLoadError:
    return AppLoadError(
        f"importing the app took more than {timeout_s:g} s, and teal stopped it there (at {where})",
        where=where,
        hint="Lambda gives a function's start 10 s: move slow work (connections, large "
        "files, models) out of module level, into the first request or a cached helper; "
        "if only this machine is slower, set TEAL_IMPORT_TIMEOUT to more seconds",
    )


def _ended(status: int, where: str) -> AppLoadError:
    """The import's process ended without an answer: by a signal (negative status), or by
    an exit teal did not see (a C library's exit(), say)."""
    if status >= 0:
        return AppLoadError(
            f"importing the app ended its process (exit status {status}) before it answered",
            where=where,
            hint="something at module level ended the interpreter (a C library's exit(), "
            f"say); see the output above. {IMPORTED_AS}",
        )
    number = -status
    name = _signal_name(number)
    if number in CRASHES:
        hint = (
            f"the interpreter crashed in C code (an extension module, or ctypes) called from "
            f"{where}: the stacks above show where each thread was; the function would "
            "crash on Lambda too"
        )
    elif number == signal.SIGKILL:
        hint = (
            "something killed the import's process: the app itself (os.kill), or the system "
            "when memory ran out; see the output above"
        )
    else:
        hint = f"the app, or something it started, sent its own process {name}"
    return AppLoadError(
        f"importing the app ended its process: {name}", where=where, hint=f"{hint}. {IMPORTED_AS}"
    )


def _signal_name(number: int) -> str:
    try:
        described = signal.strsignal(number) or ""
        return f"{signal.Signals(number).name} ({described.lower()})"
    except ValueError:
        return f"signal {number}"


def main_thread_frames(dump: str) -> list[list[Any]]:
    """The main thread's frames, oldest first, from what faulthandler wrote (the first
    thread's when no thread is the main one)."""
    main = _main_thread(dump)
    if main is not None:
        return main
    threads = _threads(dump)
    return threads[0][::-1] if threads else []


def _main_thread(dump: str) -> list[list[Any]] | None:
    for frames in _threads(dump):  # each most recent first; the main thread runs introspect
        if frames and Path(str(frames[-1][0])).name == INTROSPECT.name:
            return frames[::-1]
    return None


def _threads(dump: str) -> list[list[list[Any]]]:
    threads: list[list[list[Any]]] = []
    for line in dump.splitlines():
        if _THREAD.match(line):
            threads.append([])
        elif (frame := _FRAME.match(line)) and threads:
            threads[-1].append([frame["file"], int(frame["line"])])
    return threads


def deepest_user_frame(
    frames: list[list[Any]], root: Path, others: Sequence[Path], fallback: str | None = None
) -> str:
    """``file:line`` of the deepest frame in the project, outside installed packages
    (``fallback``, else the project folder, when there is none)."""
    mine = [
        (str(file), line)
        for file, line in frames
        if Path(str(file)).is_relative_to(root)
        and "site-packages" not in Path(str(file)).parts
        and not any(Path(str(file)).is_relative_to(other) for other in others)
    ]
    if mine:
        return f"{mine[-1][0]}:{mine[-1][1]}"
    return fallback or str(root)


def module_file(root: Path, entry: str) -> str:
    """The file of the entry's module, as the import would find it in the project."""
    module = entry.partition(":")[0].replace(".", "/")
    for candidate in (root / f"{module}.py", root / module / "__init__.py"):
        if candidate.is_file():
            return str(candidate)
    return str(root)
