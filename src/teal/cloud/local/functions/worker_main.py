"""Bootstrap of one Lambda-like worker process (an execution environment).

Run by path, never imported, by the runtime's own Python:
``python -I -S worker_main.py CODE_DIR HANDLER MAX_RESULT_BYTES [PATH...]``.
It imports only the standard library before putting CODE_DIR first on
``sys.path``, then the PATHs (the requirements, the runtime's SDK; see
:mod:`teal.project.runtimes`): with ``-I -S`` nothing installed beside the gateway or
in the interpreter is importable, as on Lambda. The function's own copy of
``teal`` is the one it imports; blue and green code import side by side, each
in its own processes.

Protocol with the gateway, over the process's original stdin/stdout: frames of
a 4-byte big-endian length and a JSON object. The worker first sends
``{"type": "ready"}`` (or ``init_error``), then answers each request frame
``{"request_id", "event", "deadline_ms"}`` with a ``result`` frame; a result
whose JSON is over MAX_RESULT_BYTES is answered with Lambda's
``Function.ResponseSizeTooLarge`` error instead. The handler's own prints must
not corrupt that channel, so fd 1 is pointed at the log (fd 2, opened by the
gateway) and the protocol keeps private copies.

The log holds what Lambda's log stream would: ``START``/``END``/``REPORT``
lines with the request id, as Lambda prints them, and the handler's output
between them. Each write through ``sys.stdout``/``sys.stderr`` goes to the
file at once (nothing is lost when a timeout kills the worker) and starts
with its time, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` and a tab, as CloudWatch
stamps each event; a write of several lines (an unhandled error and its
traceback) stays one event. Bytes written to the file descriptors directly
(by a child process, say) carry no time: readers give them their predecessor's.
The START line, stamped when the request starts, is written with the
handler's first output or with END and REPORT: a request that prints nothing
costs one write.

The worker leads its own process group (the gateway starts it in a new
session); the gateway ends the whole group, so processes a handler starts do
not outlive their worker.

As Lambda's runtime does, it sets ``_X_AMZN_TRACE_ID`` for each request (the
frame's ``trace_id``). It ends itself when its peak resident memory passed the
function's memory size (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``), checked after init
and after each request on Linux, answering ``Runtime.OutOfMemory`` (the gateway
samples it during a request too, everywhere). Run as root on Linux, it first gives up the capability
that lets root write files whatever their mode, so its read-only code folder is
read-only for it as well.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import math
import os
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

try:
    import resource
except ImportError:  # Windows has none
    resource = None  # type: ignore[assignment]

_HEADER = struct.Struct(">I")
_READ_BUFFER = 64 * 1024  # a pipe's capacity: what one read can bring
RESULT_TOO_LARGE = "Function.ResponseSizeTooLarge"
OUT_OF_MEMORY = "Runtime.OutOfMemory"
TRACE_VARIABLE = "_X_AMZN_TRACE_ID"
_CAP_DAC_OVERRIDE = 1  # linux/capability.h
_PR_CAPBSET_DROP = 24
_CAPABILITY_VERSION_3 = 0x20080522


class LambdaContext:
    """The context object a Python Lambda handler receives.

    What describes the execution environment is read from its variables once, at
    init, as Lambda's runtime does: a handler changing ``os.environ`` does not
    change its context.
    """

    _environment: dict[str, str] | None = None

    @classmethod
    def _described(cls) -> dict[str, str]:
        if cls._environment is None:
            env = os.environ
            cls._environment = {
                "function_name": env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                "function_version": env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                "invoked_function_arn": env.get("TEAL_LOCAL_FUNCTION_ARN", ""),
                "memory_limit_in_mb": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                "log_group_name": env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
                "log_stream_name": env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            }
        return cls._environment

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        described = self._described()
        self.function_name = described["function_name"]
        self.function_version = described["function_version"]
        self.invoked_function_arn = described["invoked_function_arn"]
        self.memory_limit_in_mb = described["memory_limit_in_mb"]
        self.aws_request_id = request_id
        self.log_group_name = described["log_group_name"]
        self.log_stream_name = described["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


_second: tuple[int, str] = (-1, "")  # the last second stamped, formatted once


def stamp(now: float) -> str:
    """The time that starts an event in the log (the readers parse exactly this)."""
    global _second
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1_000_000):06d}Z\t"


class StampedLog(io.BufferedIOBase):
    """The log file (fd 2) as ``sys.stdout`` and ``sys.stderr`` write to it: every
    write that starts a line starts a new event with its time."""

    def __init__(self, fd: int = 2) -> None:
        super().__init__()
        self._fd = fd
        self._at_line_start = True
        self._pending = b""  # an event of the worker's own, written with the next write

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if not chunk:
            return 0
        head = stamp(time.time()).encode() if self._at_line_start else b""
        self._at_line_start = chunk.endswith(b"\n")
        _write_all(self._fd, self._pending + head + chunk)
        self._pending = b""
        return len(chunk)

    def own(self, text: str, *, later: bool = False) -> None:
        """Events of the worker's own (START, END and REPORT, an unhandled error), each
        line already stamped (see :func:`stamp`), in one write; a line the handler left
        open is ended first. ``later``: with the next write instead (START waits for the
        handler's first output, or for its END: a request that prints nothing costs one
        write)."""
        data = text.encode("utf-8", "backslashreplace")
        if not self._at_line_start:
            data = b"\n" + data
        self._at_line_start = True
        if later:
            self._pending += data
            return
        _write_all(self._fd, self._pending + data)
        self._pending = b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_LOG = StampedLog()


def _stamped_output() -> None:
    """Point ``sys.stdout`` and ``sys.stderr`` at the log, unbuffered and stamped."""
    for name in ("stdout", "stderr"):
        # typeshed's buffer protocol lists attributes a writing TextIOWrapper never uses
        buffer: Any = _LOG
        stream = io.TextIOWrapper(
            buffer, encoding="utf-8", errors="backslashreplace", write_through=True
        )
        setattr(sys, name, stream)


def _take_protocol_channel() -> tuple[IO[bytes], IO[bytes]]:
    """Keep private copies of stdin/stdout for frames; handler output goes to the log.

    Frames come in through a buffer: one read usually brings a whole frame.
    """
    frames_in = os.fdopen(os.dup(0), "rb", buffering=_READ_BUFFER)
    frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return frames_in, frames_out


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Any:
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(stream, _HEADER.unpack(header)[0])
    # decoded first: json.loads guesses the encoding of bytes and decodes them with an
    # error handler, a fifth of a hello request's parse; the gateway always sends UTF-8
    return None if payload is None else json.loads(payload.decode("utf-8"))


def send(stream: IO[bytes], frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        view = view[stream.write(view) or 0 :]


# Built once: json.dumps with any option builds a new encoder for every call.
_FRAME_JSON = json.JSONEncoder(separators=(",", ":"))
_RESULT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_frame(message: Any) -> bytes:
    payload = _FRAME_JSON.encode(message).encode("utf-8")
    return _HEADER.pack(len(payload)) + payload


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": _redacted(str(exc)),
        "errorType": type(exc).__name__,
        "stackTrace": [_redacted(line) for line in traceback.format_tb(exc.__traceback__)],
    }


def _redacted(text: str) -> str:
    """``text`` without the values teal's runtime fetched for the function, when it did
    (its module, the function's own copy, is loaded then; this script imports nothing of
    the function's before ``sys.path`` is set)."""
    secrets = sys.modules.get("teal.runtime.secrets")
    redact: Callable[[str], str] | None = getattr(secrets, "redact", None)
    return redact(text) if redact is not None else text


def _load_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = spec.rpartition(".")
    module = importlib.import_module(module_name)
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


def _flush_logs() -> None:
    sys.stdout.flush()
    sys.stderr.flush()


def _log(text: str) -> None:
    """One event of the worker's own, stamped now, after what the handler wrote."""
    _flush_logs()  # a stream the handler swapped in may buffer
    _LOG.own(stamp(time.time()) + text + "\n")  # its lines after the first: the same event


_started = time.perf_counter()  # the init phase: from here until the handler is imported
_init_ms: float | None = None  # reported once, by the first REPORT line, as Lambda does
_peak: tuple[int, int] = (-1, 0)  # the second last measured, and the peak memory (MB) then


def _peak_mb(second: int) -> int:
    """Max Memory Used: the process's peak resident memory, measured once a second."""
    global _peak
    if _peak[0] != second:
        _peak = (second, math.ceil(peak_memory_bytes() / (1024 * 1024)))
    return _peak[1]


def _end_and_report(request_id: str, duration_ms: float) -> str:
    """Lambda's END and REPORT lines: durations, memory configured and at most used."""
    global _init_ms
    now = time.time()
    at = stamp(now)
    memory_mb = LambdaContext._described()["memory_limit_in_mb"]
    text = (
        f"{at}END RequestId: {request_id}\n"
        f"{at}REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {_peak_mb(int(now))} MB"
    )
    if _init_ms is not None:
        text += f"\tInit Duration: {_init_ms:.2f} ms"
        _init_ms = None
    return text + "\n"


def _result_frame(result: Any, max_result_bytes: int) -> bytes:
    """The result frame; Lambda's size error instead when the result's JSON is too large."""
    # encoded here: what is not JSON cannot travel back, as on Lambda
    result_json = _RESULT_JSON.encode(result).encode("utf-8")
    if len(result_json) > max_result_bytes:
        message = (
            f"Response payload size exceeded maximum allowed payload size "
            f"({max_result_bytes} bytes)."
        )
        sys.stderr.write(f"[ERROR] {RESULT_TOO_LARGE}: {message}\n")
        error = {"errorMessage": message, "errorType": RESULT_TOO_LARGE, "stackTrace": []}
        return encode_frame({"type": "result", "ok": False, "error": error})
    payload = b'{"type":"result","ok":true,"result":' + result_json + b"}"
    return _HEADER.pack(len(payload)) + payload


def serve_one(
    handler: Callable[[Any, Any], Any], request: dict[str, Any], max_result_bytes: int
) -> bytes:
    """Run the handler for one request frame; the encoded result frame to send back."""
    request_id = str(request["request_id"])
    context = LambdaContext(request_id, int(request["deadline_ms"]))
    set_trace_variable(str(request["trace_id"]) if request.get("trace_id") else None)
    start = f"START RequestId: {request_id} Version: {context.function_version}\n"
    _LOG.own(stamp(time.time()) + start, later=True)
    started = time.perf_counter()
    try:
        frame = _result_frame(handler(request["event"], context), max_result_bytes)
    except Exception as exc:
        _log(_unhandled(exc))
        frame = encode_frame({"type": "result", "ok": False, "error": _error_payload(exc)})
    duration_ms = (time.perf_counter() - started) * 1000
    _flush_logs()  # the handler's output goes first (a stream it swapped in may buffer)
    _LOG.own(_end_and_report(request_id, duration_ms))
    return frame


class _TraceVariable:
    """``_X_AMZN_TRACE_ID`` in ``os.environ`` and in the C environment that the
    processes a handler starts inherit, set for each request.

    Not through ``os.environ[...] = ...``: the C library's ``setenv`` copies each
    value and never frees it (a caller may still hold it), so one trace id per
    request grew the worker without end (about 140 bytes a request, a false
    ``Runtime.OutOfMemory`` after some hundred thousand requests) and each set got
    slower. ``putenv`` instead makes our own buffer the variable. A buffer is freed
    one request after it stopped being the variable: a thread of the handler's
    scanning the C environment at the switch may still be reading it.
    """

    def __init__(self) -> None:
        self._key = os.fsencode(TRACE_VARIABLE)
        self._data: Any = getattr(os.environ, "_data", None)  # what os.environ reads
        self._putenv: Any = None
        if sys.platform != "win32" and isinstance(self._data, dict):
            try:
                self._putenv = ctypes.CDLL(None).putenv
            except (OSError, AttributeError):  # no C library to ask: os.environ's way
                self._putenv = None
        self._entries: tuple[Any, Any] = (None, None)  # the variable's buffer, the one before

    def set(self, value: str | None) -> None:
        # a NUL cannot be in an environment variable: no trace rather than a dead worker
        # (an invocation's event names the trace, and a direct invoke's event is anyone's)
        if value is None or "\0" in value:
            os.environ.pop(TRACE_VARIABLE, None)
            self._entries = (None, self._entries[0])
            return
        encoded = os.fsencode(value)
        if self._putenv is None:
            os.environ[TRACE_VARIABLE] = value
            return
        entry = ctypes.create_string_buffer(self._key + b"=" + encoded)
        if self._putenv(entry) != 0:
            os.environ[TRACE_VARIABLE] = value
            return
        self._entries = (entry, self._entries[0])
        self._data[self._key] = encoded


set_trace_variable = _TraceVariable().set


def peak_memory_bytes() -> int:
    """This process's peak resident memory so far (Linux's VmHWM); 0 where unknown.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries the peak of the process that
    forked the worker over its exec, so a large gateway would look like a large worker.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory_limit_bytes() -> int:
    """The function's memory size (Lambda's MB are MiB); 0 when unknown: no limit."""
    size = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return int(size) * 1024 * 1024 if size.isdigit() else 0


def over_memory(limit: int) -> bool:
    """Whether the peak resident memory passed ``limit`` (0: no limit).

    Checked after every request, so a cheap bound comes first: ``ru_maxrss`` (a
    system call, under a microsecond) is the process's own peak or the forking
    process's, whichever is larger, read from per-CPU counters that may lag the
    exact count by a few pages per CPU (:data:`_BOUND_SLACK` covers that). Only
    when that bound comes near the limit is the exact peak read from /proc
    (tens of microseconds: reading it on every request doubled a hello
    request's cost in the worker).
    """
    if not limit or _peak_bound_bytes() + _BOUND_SLACK <= limit:
        return False
    return peak_memory_bytes() > limit


_BOUND_SLACK = 16 * 1024 * 1024


def _peak_bound_bytes() -> int:
    """The peak resident memory as ``ru_maxrss`` has it (KiB on Linux, bytes on macOS)."""
    if resource is None:  # Windows: no bound, read the peak
        return sys.maxsize // 2
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def out_of_memory(request_id: str) -> dict[str, Any]:
    """Log Lambda's lines for an environment it ended for its memory; the error to send."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    _log(f"{message}\n{OUT_OF_MEMORY}")
    return {"errorMessage": message, "errorType": OUT_OF_MEMORY, "stackTrace": []}


def _die() -> None:
    """End the worker at once, as Lambda ends an environment over its memory."""
    _end_group()
    os._exit(1)  # not leading its group (started by hand): end this process alone


def drop_root_write_override() -> None:
    """Run as root on Linux, give up CAP_DAC_OVERRIDE for good (and for what this process
    starts), so that file modes bind it as they bind everyone: the code folder is
    read-only, as Lambda's is. Anywhere else there is nothing to give up."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0)  # children cannot regain it

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return
    keep = ~(1 << _CAP_DAC_OVERRIDE) & 0xFFFFFFFF
    data[0].effective &= keep
    data[0].permitted &= keep
    data[0].inheritable &= keep
    libc.capset(ctypes.byref(header), data)


def _unhandled(exc: BaseException) -> str:
    """An unhandled error as Lambda's runtime logs it: one event, the traceback whole."""
    trace = "".join(traceback.format_exception(exc)).rstrip("\n")
    return _redacted(f"[ERROR] {type(exc).__name__}: {exc}\n{trace}")


def _end_group() -> None:
    """End this worker's process group, the worker with it: what its handlers started
    must not outlive it. Only when the group is its own (the gateway starts it so)."""
    if os.getpgrp() == os.getpid():
        _flush_logs()
        os.killpg(0, signal.SIGKILL)


def _exit_with_parent() -> None:
    """End this worker when the gateway that started it is gone, even mid-request.

    An idle worker sees its stdin close; a busy one (a handler in an endless
    loop, say) would not, and its timeout is kept by the gateway.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        _end_group()
        os._exit(1)

    threading.Thread(target=watch, name="teal-parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    global _init_ms
    code_dir, handler_spec, max_result_bytes, *world = argv[1:]
    _exit_with_parent()
    drop_root_write_override()
    memory_limit = memory_limit_bytes()
    frames_in, frames_out = _take_protocol_channel()
    _stamped_output()
    # the code first, then its requirements and the runtime's SDK; with -I -S nothing
    # else but the standard library (and never this script's own folder)
    sys.path[:1] = [code_dir, *world]
    os.chdir(code_dir)
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:
        _log(_unhandled(exc))
        send(frames_out, encode_frame({"type": "init_error", "error": _error_payload(exc)}))
        return 1
    if over_memory(memory_limit):
        send(frames_out, encode_frame({"type": "init_error", "error": out_of_memory("init")}))
        _die()
    _init_ms = (time.perf_counter() - _started) * 1000
    send(frames_out, encode_frame({"type": "ready"}))
    while True:
        request = read_frame(frames_in)
        if request is None:  # the gateway closed the channel, or is gone
            _end_group()
            return 0
        answer = serve_one(handler, request, int(max_result_bytes))
        if over_memory(memory_limit):  # Lambda would have ended it: the result is lost
            error = out_of_memory(str(request["request_id"]))
            send(frames_out, encode_frame({"type": "result", "ok": False, "error": error}))
            _die()
        send(frames_out, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
