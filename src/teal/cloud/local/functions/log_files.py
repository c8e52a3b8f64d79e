"""The workers' log files read as CloudWatch Logs would serve them.

A log group is a folder (:meth:`LocalPaths.log_folder`), a log stream a file
in it, written by one worker (see ``worker_main``): each event starts with
its time, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` and a tab, and runs to the next
such line, so an event may hold several lines (an unhandled error and its
traceback). Lines without a time (bytes a child process wrote to the file
directly) belong to the event before them. An event's id is its stream and
its offset in the file: reading the file again finds the same ids.
"""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from teal.cloud.base import LOG_TAIL_BYTES, LogPage, LogQuery
from teal.cloud.local.paths import LocalPaths, stream_of
from teal.rules.lambda_logs import LogEvent

PAGE_SIZE = 10_000  # events per page, as FilterLogEvents pages at most
_STAMP_LENGTH = len("2024-01-01T00:00:00.000000Z\t")


UNFINISHED_LINE_S = 2.0  # how long a line without its end may still grow


def stamp(now: float) -> str:
    """The time that starts an event (``worker_main.stamp`` writes the same)."""
    whole = int(now)
    micros = min(int((now - whole) * 1_000_000), 999_999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z\t"


def parse_stamp(line: bytes) -> int | None:
    """The milliseconds since the epoch an event line starts with, or None."""
    if len(line) < _STAMP_LENGTH or line[_STAMP_LENGTH - 1 : _STAMP_LENGTH] != b"\t":
        return None
    text = line[: _STAMP_LENGTH - 2]
    try:
        parts = (int(text[0:4]), int(text[5:7]), int(text[8:10]))
        clock = (int(text[11:13]), int(text[14:16]), int(text[17:19]))
        micros = int(text[20:26])
    except ValueError:
        return None
    if text[4:5] != b"-" or text[10:11] != b"T" or line[26:27] != b"Z":
        return None
    return calendar.timegm((*parts, *clock, 0, 0, 0)) * 1000 + micros // 1000


def read_stream(file: Path, group: str) -> list[LogEvent]:
    """Every event of one stream's file, in the order written."""
    return _read_stream(file, group)[0]


def _read_stream(file: Path, group: str) -> tuple[list[LogEvent], bool]:
    """The stream's events, and whether they hold all of the file (not when its last
    line is still being written: it is left out until it ends)."""
    try:
        data = file.read_bytes()
    except OSError:
        return [], True
    stream = stream_of(file)
    events: list[LogEvent] = []
    when: int | None = None
    start = 0
    lines: list[bytes] = []

    def close() -> None:
        if lines:
            message = b"".join(lines).decode("utf-8", "replace").rstrip("\n")
            at = when if when is not None else int(file.stat().st_mtime * 1000)
            events.append(LogEvent(at, group, stream, message, f"{stream}:{start}"))

    offset = 0
    for line in data.splitlines(keepends=True):
        stamped = parse_stamp(line)
        if stamped is not None:
            close()
            when, start, lines = stamped, offset, [line[_STAMP_LENGTH:]]
        else:
            lines.append(line)
        offset += len(line)
    close()
    if events and _being_written(file, data):
        events.pop()  # its line is not finished: a reader would keep only its beginning
        return events, False
    return events, True


def _being_written(file: Path, data: bytes) -> bool:
    """Whether the file ends inside a line that a worker is still writing (``print(...,
    end="")`` and more to come). A line left unfinished for longer is an event as it is."""
    if data.endswith(b"\n"):
        return False
    try:
        return time.time() - file.stat().st_mtime < UNFINISHED_LINE_S
    except OSError:
        return False


@dataclass
class _Parsed:
    size: int
    mtime_ns: int
    events: list[LogEvent]


class LocalLogs:
    """Reads log groups from their folders; a file is parsed again only once it grew."""

    def __init__(self, paths: LocalPaths) -> None:
        self.paths = paths
        self._parsed: dict[Path, _Parsed] = {}

    def read(self, query: LogQuery) -> Iterator[LogPage]:
        events = [
            event
            for file in self._files_written_since(query.group, query.start_ms)
            for event in self._events(file, query.group)
            if event.timestamp_ms >= query.start_ms
            and (query.end_ms is None or event.timestamp_ms < query.end_ms)
        ]
        events.sort(key=lambda e: (e.timestamp_ms, e.stream, _offset(e)))
        for first in range(0, len(events), PAGE_SIZE):
            yield LogPage(tuple(events[first : first + PAGE_SIZE]))

    def invocation_log(self, group: str, request_id: str, since_ms: int) -> str:
        """The lines of one invocation, from its START to its REPORT, as Lambda's tail
        shows them (the last 4 KB)."""
        for file in self._files_written_since(group, since_ms):
            events = self._events(file, group)
            begin = _index(events, f"START RequestId: {request_id}")
            if begin is None:
                continue
            end = _index(events, f"REPORT RequestId: {request_id}", begin)
            chosen = events[begin : (len(events) if end is None else end + 1)]
            text = "".join(event.message + "\n" for event in chosen)
            return text.encode()[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")
        return ""

    def _files_written_since(self, group: str, start_ms: int) -> list[Path]:
        folder = self.paths.log_folder(group)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return []
        return [
            Path(entry.path)
            for entry in entries
            if entry.name.endswith(".log") and entry.stat().st_mtime * 1000 >= start_ms - 1
        ]

    def _events(self, file: Path, group: str) -> list[LogEvent]:
        try:
            info = file.stat()
        except OSError:
            return []
        known = self._parsed.get(file)
        if known is not None and (known.size, known.mtime_ns) == (info.st_size, info.st_mtime_ns):
            return known.events
        events, whole = _read_stream(file, group)
        if whole:  # a parse that left out an unfinished line is not kept: it may end unchanged
            self._parsed[file] = _Parsed(info.st_size, info.st_mtime_ns, events)
        return events


def _offset(event: LogEvent) -> int:
    return int(event.id.rpartition(":")[2])


def _index(events: list[LogEvent], prefix: str, start: int = 0) -> int | None:
    return next(
        (i for i in range(start, len(events)) if events[i].message.startswith(prefix)), None
    )
