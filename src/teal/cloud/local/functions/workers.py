"""Lambda-like workers: processes started from a function's code, pooled per version.

A worker is one execution environment: it imports the handler once, then
serves one request at a time, keeping module state between requests (warm).
Workers are pooled per :attr:`FunctionSpec.version_key`, so blue and green
versions of the same module live in different processes. A pool has a
concurrency cap; requests beyond it wait. A request that outlives the
function's timeout, a crash or ``sys.exit`` ends that worker only, and the
next request starts a fresh one.

Code zips are unpacked once per content hash under ``LocalPaths.code``, read-only.
What else a worker gets of Lambda's execution environment (variables, region,
credentials, a private ``/tmp``, the memory limit) is :mod:`teal.cloud.local.functions.sandbox`'s.

Memory: a worker's resident memory may not pass the function's ``MemorySize``,
the way Lambda bounds an execution environment. The worker checks its own peak
after init and after every request (so a short spike counts too), and while a
request runs the gateway samples the worker's RSS every
:data:`MEMORY_POLL_S` (so a runaway handler is stopped before it takes the
machine). Either way the worker is killed, Lambda's lines go to its log, and the
invocation fails (``Runtime.OutOfMemory``: API Gateway answers 502). Resident
memory rather than an address-space limit (RLIMIT_AS): Python and its
libraries reserve far more address space than they touch, e.g. a worker serving
a FastAPI app through Mangum holds about 50 MiB resident in 200 MiB of
address space, and every thread reserves more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import struct
import subprocess
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic_core import PydanticSerializationError, from_json, to_json

from teal.cloud.local.functions.log_files import stamp
from teal.cloud.local.functions.sandbox import (
    OUT_OF_MEMORY,
    OUT_OF_MEMORY_LOG,
    AwsIdentity,
    UserCredentials,
    aws_identity,
    lambda_trace_id,
    lambda_variables,
    make_read_only,
    memory_limit_bytes,
    private_tmp,
    remove_tmp,
)
from teal.cloud.local.functions.secrets_store import (
    SecretsReader,
    Stamp,
    ValuesPipe,
    references_of,
)
from teal.cloud.local.functions.worker_records import Owner, forget_worker, record_worker
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.paths import LAMBDA_LOG_PREFIX, LocalPaths
from teal.processes import kill_group, resident_bytes
from teal.project.dependencies import choice_of, local_world
from teal.project.runtimes import RuntimeWorld
from teal.runtime.errors import TealError
from teal.runtime.warmup import warm_up_event

T = TypeVar("T")
BOOTSTRAP = Path(__file__).with_name("worker_main.py")
DEFAULT_CONCURRENCY = 10
STANDBY_IDLE_S = 30.0  # a worker idle this long leaves (see WorkerManager)
LIVE_IDLE_S = 600.0  # ... unless it is the warm one of a version served through a domain
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
# Lambda's synchronous invocation payload limits, on the JSON each way (see docs/limits.md):
# "Request must be smaller than 6291456 bytes", "maximum allowed payload size (6291556 bytes)".
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_RESULT_BYTES = 6 * 1024 * 1024 + 100
_HEADER = struct.Struct(">I")
MEMORY_POLL_S = 0.05  # how often the gateway samples a busy worker's resident memory


class FailureKind(Enum):
    INIT = "Runtime.ImportModuleError"
    UNHANDLED = "Unhandled"
    TIMEOUT = "Sandbox.Timedout"
    CRASH = "Runtime.ExitError"
    EVENT_TOO_LARGE = "RequestEntityTooLargeException"  # refused before any worker runs
    RESULT_TOO_LARGE = "Function.ResponseSizeTooLarge"
    OUT_OF_MEMORY = OUT_OF_MEMORY


class InvocationError(Exception):
    """The function did not return a result: API Gateway answers 502, or 413 for an event
    Lambda refused for its size."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message


def event_too_large(size: int | None = None) -> InvocationError:
    """Lambda's refusal of an event over :data:`MAX_EVENT_BYTES` (of ``size`` bytes, if
    known)."""
    told = f" (the event has {size} bytes)" if size is not None else ""
    return InvocationError(
        FailureKind.EVENT_TOO_LARGE,
        f"Request must be smaller than {MAX_EVENT_BYTES} bytes for the InvokeFunction "
        f"operation{told}",
    )


# ---------------------------------------------------------------- code unpacking


def ensure_code(paths: LocalPaths, spec: FunctionSpec) -> Path:
    """The folder holding the function's unpacked code, unpacking the zip once.

    Concurrent unpackers (threads or gateway processes) each unpack into a
    private folder and rename it into place; the loser discards its copy.
    """
    target = paths.code / spec.code_sha256
    if target.is_dir():
        return target
    archive = paths.artifact(spec.code_key)
    if not archive.is_file():
        raise InvocationError(
            FailureKind.INIT,
            f"code artifact {archive} of function {spec.name} is missing; deploy again",
        )
    paths.code.mkdir(parents=True, exist_ok=True)
    scratch = paths.code / f".unpack-{spec.code_sha256}-{uuid.uuid4().hex}"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(scratch)
    make_read_only(scratch)  # Lambda's /var/task is read-only
    try:
        scratch.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        _remove_read_only(scratch)
    return target


def _remove_read_only(folder: Path) -> None:
    for root, dirs, _files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    folder.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- one worker


@dataclass(frozen=True)
class LogStream:
    """Where one worker's output goes, named like a CloudWatch log stream."""

    group: str
    stream: str
    file: Path

    @classmethod
    def create(
        cls, paths: LocalPaths, function_name: str, shared_group: str = "", version: str = "$LATEST"
    ) -> LogStream:
        """A new stream, named as Lambda names it: in a group several functions share
        (LoggingConfig), the stream's name starts with the function's."""
        day = time.strftime("%Y/%m/%d", time.gmtime())
        token = uuid.uuid4().hex
        group = shared_group or f"{LAMBDA_LOG_PREFIX}{function_name}"
        stream = f"{day}/{function_name if shared_group else ''}[{version}]{token}"
        file = paths.log_file(group, stream)
        file.parent.mkdir(parents=True, exist_ok=True)
        return cls(group=group, stream=stream, file=file)


def worker_environment(
    spec: FunctionSpec,
    code_dir: Path,
    log: LogStream,
    tmp: Path | None = None,
    identity: AwsIdentity | None = None,
) -> dict[str, str]:
    """The variables a Lambda execution environment sees, then the function's own."""
    from teal.cloud.local.model import LOCAL_REGION

    identity = identity or AwsIdentity(LOCAL_REGION)
    return lambda_variables(
        spec, code_dir, tmp=tmp, log_group=log.group, log_stream=log.stream, identity=identity
    )


def trace_header(event: Any) -> str | None:
    """The ``X-Amzn-Trace-Id`` of a proxy event, if it has one."""
    headers = event.get("headers") if isinstance(event, dict) else None
    if not isinstance(headers, dict):
        return None
    value = next((v for k, v in headers.items() if k.lower() == "x-amzn-trace-id"), None)
    return value if isinstance(value, str) else None


def encode_event(event: Any) -> bytes:
    """The event as the JSON Lambda measures against :data:`MAX_EVENT_BYTES`.

    Compact, UTF-8, NaN and Infinity as Python writes them. pydantic-core's
    encoder writes the same bytes as ``json.dumps`` for every event the gateway
    builds, four times faster (it was a tenth of the gateway's own time per
    request); what it refuses takes the standard library's path, which decides.
    """
    try:
        return to_json(event, inf_nan_mode="constants")
    except (PydanticSerializationError, ValueError):
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_frame(frame: bytes) -> Any:
    """A worker's frame (its ``json.dumps``), by pydantic-core's parser; the standard
    library's for what that one refuses (escaped lone surrogates)."""
    try:
        return from_json(frame)
    except ValueError:
        return json.loads(frame)


def _request_frame(request_id: str, deadline_ms: int, event_json: bytes, trace_id: str) -> bytes:
    """A request frame around an event encoded once, by :func:`encode_event`: one copy
    of the event (megabytes, with a large body)."""
    parts = (
        b'{"request_id":',
        encode_event(request_id),
        b',"deadline_ms":%d,"trace_id":' % deadline_ms,
        encode_event(trace_id),
        b',"event":',
        event_json,
        b"}",
    )
    return b"".join((_HEADER.pack(sum(map(len, parts))), *parts))


def yield_to_the_gateway(pid: int) -> None:
    """Schedule a worker (and what it starts) as a batch process, where Linux has that.

    A worker woken by a request would otherwise preempt the gateway that woke it
    (the kernel treats a pipe write as a hand-over and runs the reader on the
    writer's CPU at once), so under load the gateway stopped in the middle of
    handing requests out, about once per request. A batch process never preempts
    on waking; it runs when a CPU is free or at the next tick, and gets the same
    share of the CPU as before: a busy handler is not slowed.
    """
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):  # it exited already: its channel says why
            os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))


class ChannelClosed(Exception):
    """The worker's end of the frame channel closed: it exited, or is exiting."""


class _Channel(asyncio.SubprocessProtocol):
    """The gateway's end of one worker's pipes: frames from its stdout, and its exit.

    A protocol rather than stream readers: a frame is cut out of the bytes as
    they arrive and handed to the one waiting request, with no task, no extra
    buffer copy and no read call per part of a frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()  # arrived before anyone waited (the ready frame)
        self._waiter: asyncio.Future[bytes] | None = None
        self._closed = False
        self.loop = asyncio.get_running_loop()  # asked once: asking costs a system call
        self.exited: asyncio.Future[None] = self.loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _HEADER.size:
            end = _HEADER.size + _HEADER.unpack_from(buffer)[0]
            if len(buffer) < end:
                return
            frame = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            self._deliver(frame)

    def _deliver(self, frame: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)
        else:
            self._frames.append(frame)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._close()

    def process_exited(self) -> None:
        # not the end of its frames: what it wrote just before exiting may still be in
        # the pipe; that ends when its stdout closes
        if not self.exited.done():
            self.exited.set_result(None)

    def _close(self) -> None:
        self._closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ChannelClosed())

    async def next_frame(self) -> bytes:
        """The next frame from the worker, or :class:`ChannelClosed`."""
        if self._frames:
            return self._frames.popleft()
        if self._closed:
            raise ChannelClosed()
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        self._waiter = waiter
        return await waiter


class Worker:
    """One worker process; at most one request at a time (its pool sees to it)."""

    def __init__(
        self,
        spec: FunctionSpec,
        transport: asyncio.SubprocessTransport,
        channel: _Channel,
        log: LogStream,
        tmp: Path | None = None,
        *,
        record: LocalPaths | None = None,
    ):
        self.spec = spec
        self.transport = transport
        self.channel = channel
        self.pid: int = transport.get_pid()
        self.log = log
        self.tmp = tmp  # its private /tmp, removed once it has exited
        self.record = record  # the home whose worker records name it, until it has exited
        self.out_of_memory = False
        self._memory_limit = memory_limit_bytes(spec)
        self._request_id = ""
        channel.exited.add_done_callback(self._exited)
        self.cold_start_ms = 0.0
        self.invocations = 0
        self.retired = False  # killed or abandoned: never handed out again
        self.timed_out = False
        self.last_used = time.monotonic()  # its manager's clock stamps it after each request
        self.secrets_stamp: Stamp = ()  # the generations of the values it was given
        # a write transport (uvloop's is not a subclass of asyncio's: no isinstance)
        self._stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))

    @classmethod
    async def start(
        cls,
        spec: FunctionSpec,
        code_dir: Path,
        paths: LocalPaths,
        world: RuntimeWorld,
        identity: AwsIdentity | None = None,
        *,
        owner: Owner | None = None,
        values: ValuesPipe | None = None,
    ) -> Worker:
        """Start a worker and wait until its handler is imported (the cold start).

        With an ``owner`` (the gateway), the worker is recorded under ``paths`` the
        moment it exists (:mod:`.worker_records`). A start that fails or is cancelled
        on the way ends the worker: no process outlives a start nobody got a worker of.
        """
        log = LogStream.create(paths, spec.name, spec.log_group, spec.version)
        tmp = private_tmp(paths)
        started = time.perf_counter()
        env = worker_environment(spec, code_dir, log, tmp, identity)
        env.update(values.variables if values is not None else {})
        try:
            with log.file.open("ab") as log_file:
                # its own process group: whatever the handler starts goes when the worker goes
                transport, channel = await asyncio.get_running_loop().subprocess_exec(
                    _Channel,
                    *world.command(BOOTSTRAP, str(code_dir), spec.handler, str(MAX_RESULT_BYTES)),
                    *map(str, world.paths),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    env=env,
                    cwd=code_dir,
                    start_new_session=True,
                    pass_fds=(values.read_fd,) if values is not None else (),
                )
        except BaseException:
            remove_tmp(tmp)
            if values is not None:
                values.discard()
            raise
        if values is not None:
            values.hand_over()
        if owner is not None:
            record_worker(paths, transport.get_pid(), owner)
        yield_to_the_gateway(transport.get_pid())
        worker = cls(
            spec, transport, channel, log, tmp, record=paths if owner is not None else None
        )
        try:
            await worker._await_ready(max(INIT_TIMEOUT_S, float(spec.timeout_s)))
        except BaseException:
            worker.end_unless_reaped()
            raise
        worker.cold_start_ms = (time.perf_counter() - started) * 1000
        return worker

    async def _await_ready(self, timeout_s: float) -> None:
        try:
            message = await asyncio.wait_for(self._receive(), timeout_s)
        except TimeoutError:
            await self.kill()
            raise InvocationError(FailureKind.INIT, f"init took more than {timeout_s:g}s") from None
        if message.get("type") != "ready":
            await self.kill()
            error = message.get("error") or {}
            kind = FailureKind.INIT
            if error.get("errorType") == OUT_OF_MEMORY:
                kind = FailureKind.OUT_OF_MEMORY
            raise InvocationError(
                kind,
                f"{error.get('errorType')}: {error.get('errorMessage')} (log: {self.log.file})",
            )

    async def _receive(self) -> dict[str, Any]:
        try:
            message: dict[str, Any] = decode_frame(await self.channel.next_frame())
        except ChannelClosed:
            await self.channel.exited
            raise InvocationError(
                FailureKind.CRASH,
                f"worker of {self.spec.name} exited with status "
                f"{self.transport.get_returncode()} (log: {self.log.file})",
            ) from None
        return message

    @property
    def alive(self) -> bool:
        return not self.retired and self.transport.get_returncode() is None

    async def invoke(self, event_json: bytes, request_id: str, trace_id: str | None = None) -> Any:
        """Send one event (see :func:`encode_event`); the handler's result, or
        :class:`InvocationError`."""
        timeout_s = float(self.spec.timeout_s)
        deadline_ms = int((time.time() + timeout_s) * 1000)
        self.invocations += 1
        self._request_id = request_id
        if self._stdin.is_closing():
            await self.kill()
            raise InvocationError(FailureKind.CRASH, "worker is gone")
        # no drain: one frame at a time, which the transport holds until the pipe takes it
        frame = _request_frame(request_id, deadline_ms, event_json, lambda_trace_id(trace_id))
        self._stdin.write(frame)
        del frame  # the transport holds what the pipe has not taken yet, and no longer
        # timers, not wait_for: no extra task per request on the hot path
        loop = self.channel.loop
        timers = [
            loop.call_later(timeout_s, self._time_out),
            loop.call_later(MEMORY_POLL_S, self._watch_memory),
        ]
        try:
            answer = await self._receive()
        except asyncio.CancelledError:
            self._abandon()  # its answer would arrive out of turn: the worker cannot stay
            raise
        except InvocationError:
            if self.out_of_memory:
                raise _out_of_memory(request_id) from None
            if not self.timed_out:
                raise
            self._note(
                f"{request_id} Task timed out after {timeout_s:.2f} seconds",
                f"END RequestId: {request_id}",
                f"REPORT RequestId: {request_id}\tDuration: {timeout_s * 1000:.2f} ms\t"
                f"Billed Duration: {timeout_s * 1000:.0f} ms\t"
                f"Memory Size: {self.spec.memory_mb} MB\tStatus: timeout",
            )
            raise InvocationError(
                FailureKind.TIMEOUT, f"Task timed out after {timeout_s:.2f} seconds"
            ) from None
        finally:
            for timer in timers:
                timer.cancel()
            if self._memory_timer is not None:
                self._memory_timer.cancel()
                self._memory_timer = None
        if not answer.get("ok"):
            raise await self._failure(answer.get("error") or {})
        return answer.get("result")

    async def _failure(self, error: dict[str, Any]) -> InvocationError:
        kind = FailureKind.UNHANDLED
        if error.get("errorType") == FailureKind.RESULT_TOO_LARGE.value:
            kind = FailureKind.RESULT_TOO_LARGE
            await self.kill()  # Lambda's runtime exits too: the next request starts cold
        elif error.get("errorType") == OUT_OF_MEMORY:
            kind = FailureKind.OUT_OF_MEMORY
            await self.kill()  # it is ending itself: the next request starts cold
        return InvocationError(kind, f"{error.get('errorType')}: {error.get('errorMessage')}")

    def _watch_memory(self) -> None:
        """Sample the busy worker's resident memory; past the limit, end it as Lambda would."""
        if self.retired:
            return
        resident = resident_bytes(self.pid)
        if resident is None:
            return  # it is exiting: its channel tells why
        if resident > self._memory_limit:
            self.out_of_memory = True
            self._note(OUT_OF_MEMORY_LOG.format(request_id=self._request_id))
            self._abandon()
            return
        self._memory_timer = self.channel.loop.call_later(MEMORY_POLL_S, self._watch_memory)

    _memory_timer: asyncio.TimerHandle | None = None

    def _exited(self, _: object) -> None:
        """Its /tmp and its record go with it, whichever way it ended (/tmp off the loop:
        it may be large)."""
        tmp, self.tmp = self.tmp, None
        if tmp is not None:
            self.channel.loop.run_in_executor(None, remove_tmp, tmp)
        record, self.record = self.record, None
        if record is not None:
            forget_worker(record, self.pid)

    def _note(self, *events: str) -> None:
        """Events of Lambda's own in the worker's log (it cannot write them: it was killed)."""
        now = stamp(time.time())
        with self.log.file.open("a", encoding="utf-8") as log_file:
            log_file.write("".join(f"{now}{event}\n" for event in events))

    def _time_out(self) -> None:
        self.timed_out = True
        self._abandon()

    def _abandon(self) -> None:
        self.retired = True
        self._kill_group()

    def _kill_group(self) -> None:
        """SIGKILL the worker's process group: the worker and what its handler started."""
        kill_group(self.pid)

    def end_unless_reaped(self) -> None:
        """End the worker at once, where waiting is not possible (a cancelled start, the
        gateway's last moments); nothing once its exit was collected, as its pid may
        name another process by then."""
        if self.transport.get_returncode() is None:
            self._abandon()

    async def kill(self) -> None:
        self.retired = True
        self._kill_group()
        await self.channel.exited
        self.transport.close()

    async def close(self) -> None:
        """Ask the worker to leave (EOF on its stdin), then end what it leaves behind."""
        self._stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.channel.exited), 2.0)
        await self.kill()  # a lingering worker, or processes its handler started


# ---------------------------------------------------------------- pools


class _OnceAtATime:
    """Work done once for all who ask for the same key while it runs: they share its
    result or its error; who asks after it ended starts it again."""

    def __init__(self) -> None:
        self._running: dict[object, asyncio.Future[Any]] = {}

    async def run(self, key: object, start: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(start())
            running.add_done_callback(lambda _: self._running.pop(key, None))
        # shielded: one caller giving up (its request cancelled) must not end it for all
        result: T = await asyncio.shield(running)
        return result


@dataclass
class Pool:
    """The workers of one function version, with a concurrency cap."""

    spec: FunctionSpec
    capacity: int
    idle: list[Worker] = field(default_factory=list)
    running: set[Worker] = field(default_factory=set)  # serving a request now
    started: int = 0
    # invocations under way (waiting for a slot, starting a worker, or running): while
    # any is, the pool stays the manager's, so the worker it gets is known and reaped
    users: int = 0
    # the most requests running at once since the peaks were last taken (warm-ups aside)
    peak: int = 0
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.capacity)


def _out_of_memory(request_id: str) -> InvocationError:
    return InvocationError(
        FailureKind.OUT_OF_MEMORY,
        f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    )


def _idle_too_long(pool: Pool, now: float, *, keep_one: bool) -> list[Worker]:
    """The pool's idle workers past their time, taken out of it."""
    limits = [STANDBY_IDLE_S] * len(pool.idle)
    if keep_one and limits:
        limits[-1] = LIVE_IDLE_S  # the last one back is the most recently used
    leaving = [w for w, limit in zip(pool.idle, limits, strict=True) if now - w.last_used >= limit]
    if leaving:
        pool.idle = [w for w in pool.idle if w not in leaving]
    return leaving


@dataclass(frozen=True)
class PoolStats:
    version_key: str
    function_name: str
    idle: int
    busy: int
    started: int


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as ``teal local status`` shows it."""

    function_name: str
    version: str  # the code's SHA-256, shortened
    pid: int
    busy: bool
    idle_s: float  # since its last request ended (0 while busy)
    invocations: int
    lambda_version: str = "$LATEST"  # the published version it runs ("3"), or $LATEST

    def to_json(self) -> dict[str, object]:
        return {
            "function": self.function_name,
            "version": self.version,
            "lambda_version": self.lambda_version,
            "pid": self.pid,
            "state": "busy" if self.busy else "idle",
            "idle_s": round(self.idle_s, 1),
            "invocations": self.invocations,
        }


class WorkerManager:
    """Every pool of the local cloud; the gateway's one way to run functions.

    Which workers leave, in :meth:`reap` (the gateway calls it after every
    change of the serving state and every few seconds):

    - the workers of a version no longer deployed: idle ones at once, busy ones
      once their request is over (and one that was starting, once it served the
      request it was started for: its pool stays known while a request uses it);
    - the workers started with values of the local secrets store that changed
      since (and, at the next request, a warm one found so is not used);
    - any worker idle for :data:`STANDBY_IDLE_S`: the workers of an environment
      nobody calls any more (the one a switch left, an endpoint not used
      lately) are gone within a minute, and so are a burst's extra workers;
    - but a *live* version (served through a custom domain) keeps its most
      recently used worker warm until it has been idle for :data:`LIVE_IDLE_S`.

    An environment whose workers left still answers, with a cold start.
    """

    def __init__(
        self,
        paths: LocalPaths,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = paths
        self.concurrency = concurrency
        self.clock = clock
        self._pools: dict[str, Pool] = {}
        self._code_dirs: dict[str, Path] = {}
        self._worlds: dict[tuple[str | None, ...], RuntimeWorld] = {}
        self._preparing = _OnceAtATime()
        self.credentials = UserCredentials()
        self.secrets = SecretsReader(paths)  # the local secrets store, read when it changed
        self.cold_starts_ms: deque[float] = deque(maxlen=100)  # the latest, for reports
        self.owner = Owner.this_process()  # names the workers' records
        self._closed = False
        self._leaving: set[asyncio.Task[None]] = set()

    async def invoke(self, spec: FunctionSpec, event: Any, request_id: str) -> Any:
        """Run the function for one event on a warm worker, or a new one.

        ``request_id`` is Lambda's (the context's ``aws_request_id``). The
        invocation continues the trace of the event's ``X-Amzn-Trace-Id`` header,
        which API Gateway adds. An event over Lambda's payload limit is refused
        before any worker starts. An alias's spec runs the version its weights
        draw for this invocation (the gateway draws first, to count per version).
        """
        spec = spec.routed(random.random())
        event_json = encode_event(event)
        if len(event_json) > MAX_EVENT_BYTES:
            raise event_too_large(len(event_json))
        pool = self._pool(spec)
        pool.users += 1
        try:
            async with pool.slots:
                return await self._invoke_in(pool, event_json, request_id, trace_header(event))
        finally:
            pool.users -= 1

    def _pool(self, spec: FunctionSpec) -> Pool:
        pool = self._pools.get(spec.version_key)
        if pool is None:
            pool = self._pools[spec.version_key] = Pool(spec, self.concurrency)
        return pool

    async def _invoke_in(
        self, pool: Pool, event_json: bytes, request_id: str, trace_id: str | None
    ) -> Any:
        worker = await self._take_worker(pool)
        pool.running.add(worker)
        pool.peak = max(pool.peak, len(pool.running))
        try:
            return await worker.invoke(event_json, request_id, trace_id)
        finally:
            worker.last_used = self.clock()
            pool.running.discard(worker)
            if worker.alive and self._closed:
                worker.end_unless_reaped()  # the manager closed meanwhile: nobody would end it
            elif worker.alive:
                pool.idle.append(worker)

    async def _take_worker(self, pool: Pool) -> Worker:
        references = references_of(pool.spec)
        stamp = self.secrets.stamp(references.values()) if references else ()
        while pool.idle:
            worker = pool.idle.pop()  # the most recently used is the warmest
            if worker.alive and worker.secrets_stamp == stamp:
                return worker
            if worker.alive:  # a value it uses changed since it started
                self._retire(worker)
        return await self._start_worker(pool)

    async def _start_worker(self, pool: Pool) -> Worker:
        references = references_of(pool.spec)
        stamp = self.secrets.stamp(references.values()) if references else ()
        code_dir = await self._code_dir(pool.spec)
        world = await self._world(pool.spec, code_dir)
        # per start: credentials may have been refreshed since the last one
        identity = await asyncio.to_thread(aws_identity, pool.spec, self.credentials)
        values = ValuesPipe(self.secrets.values(references.values())) if references else None
        worker = await Worker.start(
            pool.spec, code_dir, self.paths, world, identity, owner=self.owner, values=values
        )
        worker.secrets_stamp = stamp
        pool.started += 1
        self.cold_starts_ms.append(worker.cold_start_ms)
        return worker

    def _retire(self, worker: Worker) -> None:
        """Let a worker whose values changed leave, without holding up the request."""
        task = asyncio.get_running_loop().create_task(worker.close())
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    def _stale(self, pool: Pool) -> list[Worker]:
        """The pool's idle workers started with values that changed since, taken out."""
        references = references_of(pool.spec)
        if not references:
            return []
        stamp = self.secrets.stamp(references.values())
        stale = [w for w in pool.idle if w.secrets_stamp != stamp]
        pool.idle = [w for w in pool.idle if w.secrets_stamp == stamp]
        return stale

    async def _world(self, spec: FunctionSpec, code_dir: Path) -> RuntimeWorld:
        """What the code runs on: the runtime's Python, its requirements, the SDK.

        The deploy that uploaded the code installed the requirements already, so
        this is a cache hit but after a reset of ``$TEAL_HOME/runtimes``. Worked
        out once for the cold starts that need it at the same time (a burst on a
        new version starts many): each took a second of the gateway's threads.
        """
        host = spec.host  # the dependency source it chose is part of what it runs on
        key = (spec.runtime, spec.code_sha256, host.dependencies, *host.optional_dependencies)
        world = self._worlds.get(key)
        if world is None:
            world = await self._preparing.run(key, lambda: self._new_world(spec, code_dir))
            self._worlds[key] = world
        return world

    async def _new_world(self, spec: FunctionSpec, code_dir: Path) -> RuntimeWorld:
        try:
            choice = choice_of(spec.host.dependencies, spec.host.optional_dependencies)
            return await asyncio.to_thread(
                local_world, code_dir, spec.runtime, choice, override=spec.host.python
            )
        except TealError as exc:
            raise InvocationError(FailureKind.INIT, exc.render()) from exc

    async def _code_dir(self, spec: FunctionSpec) -> Path:
        known = self._code_dirs.get(spec.code_sha256)
        if known is None or not known.is_dir():
            known = await self._preparing.run(
                spec.code_sha256, lambda: asyncio.to_thread(ensure_code, self.paths, spec)
            )
            self._code_dirs[spec.code_sha256] = known
        return known

    async def warm(self, spec: FunctionSpec, concurrency: int) -> int:
        """Make the function's pool hold ``concurrency`` ready workers (at most its
        capacity) before traffic comes: start what it lacks, at once, each running the
        warm-up event (the app's import and its startup; no handler). How many it holds.

        A warm-up that fails raises its :class:`InvocationError`, and the workers
        started for it leave. Warm-ups take the pool's slots, so the cap holds, but
        are no requests: they leave the peak of requests at once alone."""
        pool = self._pool(spec)
        wanted = min(concurrency, pool.capacity)
        ready = sum(1 for worker in pool.idle if worker.alive) + len(pool.running)
        pool.users += 1
        try:
            started = await asyncio.gather(
                *(self._warm_one(pool) for _ in range(max(0, wanted - ready))),
                return_exceptions=True,
            )
        finally:
            pool.users -= 1
        workers = [w for w in started if isinstance(w, Worker)]
        failed = [e for e in started if isinstance(e, BaseException)]
        if failed or self._closed:
            await asyncio.gather(*(worker.close() for worker in workers))
            if failed:
                raise failed[0]
            return 0
        for worker in workers:
            worker.last_used = self.clock()
            pool.idle.append(worker)
        return min(wanted, ready + len(workers))

    async def _warm_one(self, pool: Pool) -> Worker:
        async with pool.slots:
            worker = await self._start_worker(pool)
            try:
                await worker.invoke(encode_event(warm_up_event()), str(uuid.uuid4()))
            except BaseException:
                worker.end_unless_reaped()
                raise
            return worker

    def take_peaks(self) -> dict[str, int]:
        """Each function's most requests at once since the last call (those running now
        count in the next span too), by function name; the gateway writes them down."""
        peaks: dict[str, int] = {}
        for pool in self._pools.values():
            if pool.peak:
                name = pool.spec.name
                peaks[name] = max(peaks.get(name, 0), pool.peak)
            pool.peak = len(pool.running)
        return peaks

    def stats(self) -> list[PoolStats]:
        return [
            PoolStats(key, pool.spec.name, len(pool.idle), len(pool.running), pool.started)
            for key, pool in sorted(self._pools.items())
        ]

    def workers(self) -> list[WorkerInfo]:
        """Every worker, busy or idle, function by function."""
        now = self.clock()
        found: list[WorkerInfo] = []
        for pool in sorted(self._pools.values(), key=lambda p: (p.spec.name, p.spec.version_key)):
            version = pool.spec.code_sha256[:12]
            found.extend(
                WorkerInfo(
                    pool.spec.name, version, w.pid, True, 0.0, w.invocations, pool.spec.version
                )
                for w in pool.running
            )
            found.extend(
                WorkerInfo(
                    pool.spec.name,
                    version,
                    w.pid,
                    False,
                    now - w.last_used,
                    w.invocations,
                    pool.spec.version,
                )
                for w in reversed(pool.idle)
            )
        return found

    async def reap(
        self,
        is_current: Callable[[FunctionSpec], bool],
        is_live: Callable[[FunctionSpec], bool] = lambda _spec: False,
    ) -> int:
        """Stop the idle workers the rule above lets go; how many."""
        now = self.clock()
        stopping: list[Worker] = []
        for key, pool in list(self._pools.items()):
            if is_current(pool.spec):
                stopping.extend(self._stale(pool))
                stopping.extend(_idle_too_long(pool, now, keep_one=is_live(pool.spec)))
                continue
            stopping.extend(pool.idle)
            pool.idle = []
            if not pool.users:  # one still in use keeps the worker it gets, to reap later
                del self._pools[key]
        await asyncio.gather(*(w.close() for w in stopping))
        return len(stopping)

    async def close(self) -> None:
        """Stop every worker at shutdown: idle ones, and busy ones mid-request too; one
        still starting is ended when its start is cancelled, or as it comes back."""
        self._closed = True
        busy = [worker for pool in self._pools.values() for worker in pool.running]
        await self.reap(lambda _spec: False)
        await asyncio.gather(*(worker.kill() for worker in busy))
