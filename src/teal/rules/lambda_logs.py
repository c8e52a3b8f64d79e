"""Lambda's log lines, read as teal shows them: requests named, tracebacks whole.

CloudWatch Logs keeps events (:class:`LogEvent`); what Lambda and its Python
runtime write into them follows rules of their own, turned here into
:class:`LogLine` values:

- each line belongs to a request: Lambda's ``START``/``END``/``REPORT``
  lines name it, and an execution environment serves one request at a time,
  so the lines of a stream between them are that request's (lines read
  before any of them wait for the ``END`` that closes their request);
  Python's ``logging`` lines in Lambda's format name it too;
- a traceback printed line by line (one event per line on AWS) is put back
  together into one line, whole;
- the function is the app's name for it (``posts``), whatever the API
  generation (``blog-dev-posts-g1`` is ``posts`` too).

Pure: ``teal logs`` reads the events through the cloud, and so does the local
cloud's console.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_LAMBDA_LINE = re.compile(r"^(?P<kind>START|END|REPORT) RequestId: (?P<id>[^\s]+)")
# Python's logging in Lambda's format: "[LEVEL]\t<time>\t<request id>\t<message>"
_LOGGING_LINE = re.compile(rf"^\[[A-Z]+\]\t\S+\t(?P<id>{_UUID})\t")
_TIMEOUT_LINE = re.compile(rf"^(?:\S+Z\s+)?(?P<id>{_UUID}) Task timed out after")
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_GENERATION = re.compile(r"-g[0-9]+$")


@dataclass(frozen=True)
class LogEvent:
    """One event of a log group, as CloudWatch Logs keeps it."""

    timestamp_ms: int  # when it was written, in milliseconds since the epoch
    group: str
    stream: str  # Lambda's: ``YYYY/MM/DD/[<version>]<id>``, the function's name before ``[``
    # in a log group that several functions share
    message: str
    id: str  # unique in its group (CloudWatch's eventId): a re-read finds it again


@dataclass(frozen=True)
class LogLine:
    """One line of an environment's logs: when, which function, which request, what."""

    timestamp_ms: int
    function: str  # the app's name of the function
    function_name: str  # Lambda's, with its generation
    request_id: str | None
    message: str
    stream: str
    id: str

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def failed(self) -> bool:
        """An unhandled error, a traceback or a timeout: what a 5xx comes from."""
        return self.message.startswith(("[ERROR]", _TRACEBACK)) or bool(
            _TIMEOUT_LINE.match(self.message)
        )

    @property
    def is_lambda_line(self) -> bool:
        return bool(_LAMBDA_LINE.match(self.message))

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "function": self.function,
            "request_id": self.request_id,
            "message": self.message,
            "function_name": self.function_name,
        }


def function_of(environment: str, stream: str, group: str) -> tuple[str, str]:
    """(the app's name, Lambda's name) of the function that wrote to ``stream``."""
    name = _lambda_name(stream, group)
    return app_function(environment, name), name


def app_function(environment: str, lambda_name: str) -> str:
    """The app's name of a function from Lambda's: ``blog-dev-posts-g1`` is ``posts``
    (a name too long for Lambda, cut and hashed, stays as it is)."""
    short = _GENERATION.sub("", lambda_name)
    prefix = f"{environment}-"
    return short[len(prefix) :] if short.startswith(prefix) else lambda_name


def _lambda_name(stream: str, group: str) -> str:
    """In a shared group a stream is ``YYYY/MM/DD/<function>[<version>]<id>``; in a
    function's own group the function is in the group's name."""
    tail = stream.rsplit("/", 1)[-1]
    name = tail.split("[", 1)[0]
    return name or group.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- the project's files

# Where the code runs from: /var/task on Lambda, a folder per code hash in the local
# cloud's home. A traceback names the copy there; the user edits the project's file.
_CODE_FILE = re.compile(r'File "(?:/var/task|[^"]*/code/[0-9a-f]{64})/(?P<name>[^"]+)"')


@dataclass(frozen=True)
class SourceMap:
    """Turns the paths of a traceback's frames in the running copy of the code into
    the project's own paths: only for the files the project packaged (a vendored
    requirement, teal's runtime, keep the path they ran from)."""

    project_dir: str
    files: frozenset[str]  # the package's names of the project's files: "app.py", "lib/x.py"

    def apply(self, message: str) -> str:
        def to_project(found: re.Match[str]) -> str:
            name = found.group("name")
            return f'File "{self.project_dir}/{name}"' if name in self.files else found.group(0)

        return _CODE_FILE.sub(to_project, message) if 'File "' in message else message


# ---------------------------------------------------------------- assembling lines


@dataclass
class _Stream:
    request_id: str | None = None
    waiting: list[LogLine] = field(default_factory=list)  # before any request was named
    traceback: list[LogLine] = field(default_factory=list)  # a traceback still coming
    traceback_ended: bool = False


class Assembler:
    """Turns events (oldest first, as read) into lines with requests and whole tracebacks."""

    def __init__(self, environment: str, sources: SourceMap | None = None) -> None:
        self.environment = environment
        self.sources = sources
        self._streams: dict[str, _Stream] = {}
        self._ready: list[LogLine] = []

    def add(self, events: Iterable[LogEvent]) -> None:
        for event in events:
            self._add(event)

    def take(self, *, final: bool = True) -> list[LogLine]:
        """The lines assembled so far, oldest first. Not ``final`` (following), a
        traceback whose last line may still come is kept for the next take."""
        for stream in self._streams.values():
            if final or stream.traceback_ended:
                self._close_traceback(stream)
            if stream.waiting:
                self._ready.extend(stream.waiting)
                stream.waiting = []
        ready, self._ready = self._ready, []
        ready.sort(key=lambda line: line.timestamp_ms)
        return ready

    def _add(self, event: LogEvent) -> None:
        stream = self._streams.setdefault(event.stream, _Stream())
        function, name = function_of(self.environment, event.stream, event.group)
        request_id = self._request_of(stream, event.message)
        message = self.sources.apply(event.message) if self.sources else event.message
        line = LogLine(
            event.timestamp_ms, function, name, request_id, message, event.stream, event.id
        )
        if self._continues_traceback(stream, line):
            stream.traceback.append(line)
            return
        self._close_traceback(stream)
        if line.message.startswith(_TRACEBACK):
            stream.traceback = [line]
            stream.traceback_ended = False
        elif line.request_id is None:
            stream.waiting.append(line)
        else:
            self._ready.append(line)

    def _request_of(self, stream: _Stream, message: str) -> str | None:
        lambda_line = _LAMBDA_LINE.match(message)
        if lambda_line is None:
            named = _LOGGING_LINE.match(message) or _TIMEOUT_LINE.match(message)
            return named.group("id") if named else stream.request_id
        request_id, kind = lambda_line.group("id"), lambda_line.group("kind")
        if kind != "START":  # what came before this request's END was written during it
            self._claim_waiting(stream, request_id)
        stream.request_id = request_id if kind != "REPORT" else None
        return request_id

    def _claim_waiting(self, stream: _Stream, request_id: str) -> None:
        if stream.waiting:
            self._ready.extend(_with_request(line, request_id) for line in stream.waiting)
            stream.waiting = []
        if stream.traceback and stream.traceback[0].request_id is None:
            stream.traceback = [_with_request(line, request_id) for line in stream.traceback]

    def _continues_traceback(self, stream: _Stream, line: LogLine) -> bool:
        """Whether ``line`` is the next part of the traceback the stream is writing."""
        if not stream.traceback or line.is_lambda_line:
            return False
        text = line.message
        if stream.traceback_ended:  # the exception line came: only a chained one goes on
            if not text.strip():
                return True  # the blank line before "During handling of ...", or a last one
            if text.lstrip("\n").startswith(_CHAINED):
                stream.traceback_ended = False
                return True
            return False
        if text.startswith((" ", "\t")) or not text.strip() or text.startswith(_TRACEBACK):
            return True
        stream.traceback_ended = True  # "ValueError: ...": the traceback's last line
        return True

    def _close_traceback(self, stream: _Stream) -> None:
        if not stream.traceback:
            return
        first = stream.traceback[0]
        message = "\n".join(part.message.rstrip("\n") for part in stream.traceback).rstrip()
        whole = LogLine(
            first.timestamp_ms,
            first.function,
            first.function_name,
            first.request_id,
            message,
            first.stream,
            first.id,
        )
        stream.traceback = []
        stream.traceback_ended = False
        (self._ready if whole.request_id is not None else stream.waiting).append(whole)


def _with_request(line: LogLine, request_id: str) -> LogLine:
    return LogLine(
        line.timestamp_ms,
        line.function,
        line.function_name,
        request_id,
        line.message,
        line.stream,
        line.id,
    )


def assemble(
    environment: str,
    pages: Iterable[Iterable[LogEvent]],
    *,
    function: str | None = None,
    limit: int | None = None,
    sources: SourceMap | None = None,
) -> list[LogLine]:
    """The lines of ``pages`` (read oldest first), of one function or all: the last
    ``limit`` of them, their tracebacks naming the project's files (``sources``)."""
    assembler = Assembler(environment, sources)
    for events in pages:
        assembler.add(events)
    lines = [line for line in assembler.take() if function in (None, line.function)]
    if limit is not None:
        lines = lines[-limit:] if limit > 0 else []
    return lines
