"""What the local gateway answered: traffic numbers per stage, and request lines.

The gateway's hot path costs two clock reads, a dict lookup and two list
appends per request (:class:`RequestRecorder`: the latency into its stage's
list, a 5xx counted, the request's line as a tuple). Its server loop takes
the batch four times a second (:class:`TrafficWriter`), sorts each stage's
latencies (in C) into a histogram, and writes, off the request path:

- ``traffic.jsonl``: per stage (API id + stage), once a second, the requests,
  the 5xx answers and a histogram of latencies (buckets 5 % wide), the local
  counterpart of API Gateway's ``Count``, ``5XXError`` and ``Latency``
  metrics; ``teal status`` sums the last 5 minutes (:func:`read_traffic`), a
  watch the lines written after a switch (:func:`read_traffic_since`);
  A published version that a request ran (an alias's) gets a line of its own
  too (function and version: the local counterpart of Lambda's metrics by
  ``ExecutedVersion``), which a canary judges
  (:func:`read_version_traffic_since`);
- ``requests.jsonl``: one line per request (time, method, path, status, ms,
  function, request id), written only while a reader (``teal dev``) keeps
  ``requests.wanted`` fresh and dropped with the batch otherwise: deciding when
  the batch is taken, not when a request is answered, loses no request
  answered just after a reader asked.

- ``concurrency.jsonl``: per function, once a second, the most invocations
  that ran at once (the workers' pools count them), the local counterpart of
  Lambda's ``ConcurrentExecutions``; a switch warms its target to the peak
  the live environment reached (:func:`read_peak_concurrency`).

The files are append-only and move aside to ``*.1.jsonl`` past a size, so
they stay small whatever the traffic.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from teal.cloud.base import StageRef, Traffic
from teal.cloud.local.paths import LocalPaths

# Latency buckets: bucket i holds latencies up to BASE_MS * STEP**i.
BASE_MS = 0.05
STEP = 1.05
_LOG_STEP = math.log(STEP)
TRAFFIC_EVERY_S = 1.0  # one traffic line per stage at most this often
# A traffic line written at t counts the requests answered since the line before, which
# is at most a second and a batch (a quarter of a second) earlier, give or take the
# server loop's own delays: the span a line may reach back.
LINE_SPAN_S = 1.5
ROTATE_BYTES = 4 * 1024 * 1024
WANTED_FOR_S = 10.0  # a feed reader touches requests.wanted more often than this
WANT_EVERY_S = 2.0  # how often a reader does


class RequestLine(NamedTuple):
    """One answered request, as the gateway recorded it."""

    time: float  # when it ended, seconds since the epoch
    api_id: str
    stage: str
    method: str
    path: str  # inside the stage, as sent
    status: int
    ms: float
    function: str  # the function that ran ("" when none did: no route, no permission)
    request_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "time": round(self.time, 3),
            "api_id": self.api_id,
            "stage": self.stage,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "ms": round(self.ms, 2),
            "function": self.function,
            "request_id": self.request_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestLine:
        return cls(
            float(data["time"]),
            str(data["api_id"]),
            str(data["stage"]),
            str(data["method"]),
            str(data["path"]),
            int(data["status"]),
            float(data["ms"]),
            str(data.get("function") or ""),
            str(data.get("request_id") or ""),
        )


@dataclass
class _Samples:
    """One stage's requests since the last batch: their latencies, and the 5xx among them."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Batch:
    """What the recorder took: per stage, its samples; the request lines, if wanted; per
    published version (function name, number), its samples."""

    samples: dict[tuple[str, str], _Samples]
    lines: list[RequestLine]
    versions: dict[tuple[str, str], _Samples] = field(default_factory=dict)


class RequestRecorder:
    """The gateway's per-request cost; the server loop takes the batch (:meth:`take`)."""

    def __init__(self) -> None:
        self._samples: dict[tuple[str, str], _Samples] = {}
        # every request's line, whether anyone reads them or not: the writer decides when it
        # writes the batch, so a request answered just after a reader asked is not lost
        self._lines: list[tuple[Any, ...]] = []
        self._versions: dict[tuple[str, str], _Samples] = {}

    def record(  # noqa: PLR0917 (positional: the cheapest call, once per request)
        self,
        started: float,
        api_id: str,
        stage: str,
        method: str,
        path: str,
        status: int,
        function: str,
        request_id: str,
        version: str = "",
    ) -> None:
        """``started``: ``time.perf_counter()`` when the request came in; ``version``: the
        published version of ``function`` that ran, counted on its own too (what a canary
        judges), "" or ``$LATEST`` when none did."""
        ms = (time.perf_counter() - started) * 1000
        samples = self._samples.get((api_id, stage))
        if samples is None:
            samples = self._samples[(api_id, stage)] = _Samples()
        samples.latencies.append(ms)
        if status >= 500:
            samples.errors += 1
        if version.isdigit():
            by_version = self._versions.get((function, version))
            if by_version is None:
                by_version = self._versions[(function, version)] = _Samples()
            by_version.latencies.append(ms)
            if status >= 500:
                by_version.errors += 1
        line = (time.time(), api_id, stage, method, path, status, ms, function, request_id)
        self._lines.append(line)

    def take(self, *, lines: bool = True) -> Batch:
        """The samples and, with ``lines``, the request lines since the last take."""
        batch = Batch(
            self._samples,
            [RequestLine(*line) for line in self._lines] if lines else [],
            self._versions,
        )
        self._samples, self._lines, self._versions = {}, [], {}
        return batch


# ---------------------------------------------------------------- histograms


def bucket_of(ms: float) -> int:
    return max(0, math.ceil(math.log(max(ms, BASE_MS) / BASE_MS) / _LOG_STEP))


def histogram_of(latencies: list[float]) -> dict[int, int]:
    """Latencies counted per bucket: sorted once (in C), then cut at bucket bounds, so
    the work in Python grows with the buckets used, not with the requests."""
    values = sorted(latencies)
    counts: dict[int, int] = {}
    done = 0
    while done < len(values):
        bucket = bucket_of(values[done])
        upto = bisect.bisect_right(values, bucket_ms(bucket), done)
        counts[bucket] = max(upto, done + 1) - done
        done = max(upto, done + 1)
    return counts


def bucket_ms(bucket: int) -> float:
    """The upper bound of a bucket: a percentile read from the histogram is at most 5 % high."""
    return BASE_MS * STEP**bucket


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_ms(bucket)
    return bucket_ms(max(histogram))


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    def merge(self, requests: int, errors: int, histogram: dict[int, int]) -> None:
        self.requests += requests
        self.errors += errors
        for bucket, count in histogram.items():
            self.histogram[bucket] = self.histogram.get(bucket, 0) + count

    def to_json(self) -> dict[str, Any]:
        return {"n": self.requests, "e": self.errors, "h": self.histogram}


# ---------------------------------------------------------------- writing


class TrafficWriter:
    """Takes the recorder's batches (the gateway's server loop calls :meth:`flush`)."""

    def __init__(
        self,
        paths: LocalPaths,
        recorder: RequestRecorder,
        clock: Callable[[], float] = time.time,
        *,
        peaks: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.paths = paths
        self.recorder = recorder
        self.clock = clock
        self.peaks = peaks  # the workers' most invocations at once, taken once a second
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._version_tallies: dict[tuple[str, str], _Tally] = {}
        self._last_write = self._last_peaks = clock()

    def flush(self, *, final: bool = False) -> None:
        """Write the request lines when wanted; the traffic lines once a second."""
        batch = self.recorder.take(lines=self._feed_wanted())
        if batch.lines:
            _append(self.paths.requests, (json.dumps(line.to_json()) for line in batch.lines))
        for key, samples in batch.samples.items():
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            histogram = histogram_of(samples.latencies)
            tally.merge(len(samples.latencies), samples.errors, histogram)
        for key, samples in batch.versions.items():
            tally = self._version_tallies.setdefault(key, _Tally())
            tally.merge(len(samples.latencies), samples.errors, histogram_of(samples.latencies))
        now = self.clock()
        if (self._tallies or self._version_tallies) and (
            final or now - self._last_write >= TRAFFIC_EVERY_S
        ):
            self._write_traffic(now)
        if self.peaks is not None and (final or now - self._last_peaks >= TRAFFIC_EVERY_S):
            self._write_peaks(now, self.peaks())

    def _write_peaks(self, now: float, peaks: Mapping[str, int]) -> None:
        self._last_peaks = now
        if peaks:
            t = round(now, 3)
            lines = (json.dumps({"t": t, "fn": name, "c": n}) for name, n in sorted(peaks.items()))
            _append(self.paths.concurrency, lines)

    def _write_traffic(self, now: float) -> None:
        tallies, self._tallies = self._tallies, {}
        versions, self._version_tallies = self._version_tallies, {}
        self._last_write = now
        stamp = round(now, 3)
        stage_lines = (
            json.dumps({"t": stamp, "api": api_id, "stage": stage, **tally.to_json()})
            for (api_id, stage), tally in sorted(tallies.items())
        )
        # a published version's own line: Lambda's metrics by ExecutedVersion, locally
        version_lines = (
            json.dumps({"t": stamp, "fn": function, "v": version, **tally.to_json()})
            for (function, version), tally in sorted(versions.items())
        )
        _append(self.paths.traffic, [*stage_lines, *version_lines])

    def _feed_wanted(self) -> bool:
        try:
            touched = self.paths.requests_wanted.stat().st_mtime
        except OSError:
            return False
        return self.clock() - touched < WANTED_FOR_S


def _append(path: Path, lines: Iterable[str]) -> None:
    """Append whole lines; move the file aside first once it is large."""
    try:
        if path.stat().st_size > ROTATE_BYTES:
            path.replace(_older(path))
    except FileNotFoundError:
        pass
    text = "".join(line + "\n" for line in lines)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _older(path: Path) -> Path:
    return path.with_suffix(".1" + path.suffix)


# ---------------------------------------------------------------- reading


def read_traffic(
    paths: LocalPaths, stages: Sequence[StageRef], window_s: int, now: float | None = None
) -> list[Traffic]:
    """Each stage's traffic over the last ``window_s`` seconds, from the traffic files."""
    since = (time.time() if now is None else now) - window_s
    return _read(paths, stages, since, window_s)


def read_peak_concurrency(
    paths: LocalPaths, names: Sequence[str], window_s: int, now: float | None = None
) -> dict[str, int]:
    """Each function's most invocations at once over the last ``window_s`` seconds."""
    since = (time.time() if now is None else now) - window_s
    peaks = dict.fromkeys(names, 0)
    for record in _records(paths.concurrency, since):
        name = str(record.get("fn"))
        if name in peaks:
            peaks[name] = max(peaks[name], int(record.get("c") or 0))
    return peaks


def read_traffic_since(
    paths: LocalPaths, stages: Sequence[StageRef], since: float, now: float | None = None
) -> list[Traffic]:
    """Each stage's traffic in the lines that can hold no request answered before
    ``since`` (seconds since the epoch): those written ``LINE_SPAN_S`` after it or later."""
    first = since + LINE_SPAN_S
    covered = max(0, int((time.time() if now is None else now) - first))
    return _read(paths, stages, first, covered)


def read_version_traffic_since(
    paths: LocalPaths, versions: Sequence[tuple[str, str]], since: float, now: float | None = None
) -> Traffic:
    """The traffic the published ``versions`` (function name, number) ran, together, in
    the lines that can hold no request answered before ``since`` (as
    :func:`read_traffic_since`)."""
    first = since + LINE_SPAN_S
    covered = max(0, int((time.time() if now is None else now) - first))
    wanted = set(versions)
    tally = _Tally()
    for record in _records(paths.traffic, first):
        if (str(record.get("fn")), str(record.get("v"))) in wanted:
            histogram = {int(k): int(v) for k, v in dict(record.get("h") or {}).items()}
            tally.merge(int(record.get("n") or 0), int(record.get("e") or 0), histogram)
    return _traffic_of(tally, covered)


def _traffic_of(tally: _Tally, window_s: int) -> Traffic:
    return Traffic(
        window_s,
        tally.requests,
        tally.errors,
        percentile(tally.histogram, 0.50),
        percentile(tally.histogram, 0.99),
    )


def _read(
    paths: LocalPaths, stages: Sequence[StageRef], since: float, window_s: int
) -> list[Traffic]:
    tallies = {(s.api_id, s.stage): _Tally() for s in stages}
    for record in _records(paths.traffic, since):
        tally = tallies.get((str(record.get("api")), str(record.get("stage"))))
        if tally is not None:
            histogram = {int(k): int(v) for k, v in dict(record.get("h") or {}).items()}
            tally.merge(int(record.get("n") or 0), int(record.get("e") or 0), histogram)
    return [
        Traffic(
            window_s,
            tally.requests,
            tally.errors,
            percentile(tally.histogram, 0.50),
            percentile(tally.histogram, 0.99),
        )
        for tally in (tallies[(s.api_id, s.stage)] for s in stages)
    ]


def _records(path: Path, since: float) -> Iterator[dict[str, Any]]:
    """The JSON lines of the file (and of its older part) written at ``since`` or later."""
    for part in (_older(path), path):
        try:
            if part.stat().st_mtime < since:
                continue
        except OSError:
            continue
        yield from _tail(part, since)


def _tail(path: Path, since: float) -> list[dict[str, Any]]:
    """The file's records from ``since`` on, read from its end: lines are appended in time
    order, so only the last part is read, however long the file."""
    chunk = 64 * 1024
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            while True:
                start = max(0, size - chunk)
                file.seek(start)
                lines = file.read(size - start).split(b"\n")
                records = [r for r in map(_record, lines[1:] if start else lines) if r]
                if start == 0 or (records and float(records[0].get("t") or 0) < since):
                    break
                chunk *= 4
    except OSError:
        return []
    return [r for r in records if float(r.get("t") or 0) >= since]


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # an empty line, or one cut by a crash
    return record if isinstance(record, dict) else None


class RequestFeed:
    """``teal dev``'s view of ``requests.jsonl``: the lines written since the last read."""

    def __init__(self, paths: LocalPaths) -> None:
        self.paths = paths
        self._offset = self._size()
        self._identity = self._inode()
        self._partial = b""

    def want(self) -> None:
        """Tell the gateway someone reads the feed (call more often than every 10 s)."""
        self.paths.requests_wanted.touch()

    @contextmanager
    def kept_wanted(self, every_s: float = WANT_EVERY_S) -> Iterator[None]:
        """Say so every ``every_s`` from a thread while the block runs: a reader busy for
        longer than the gateway waits (a slow deploy) does not miss the requests after it."""
        stop = threading.Event()

        def keep() -> None:
            while not stop.wait(every_s):
                with suppress(OSError):  # TEAL_HOME gone: the next turn tries again
                    self.want()

        self.want()
        keeper = threading.Thread(target=keep, name="teal-feed-wanted", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join()

    def read(self) -> list[RequestLine]:
        moved = b""
        inode = self._inode()
        if inode != self._identity:  # moved aside: what it got since the last read first
            moved = self._rest_of(_older(self.paths.requests), self._identity)
            self._identity, self._offset = inode, 0
        elif self._size() < self._offset:  # emptied
            self._offset, self._partial = 0, b""
        data = self._rest_of(self.paths.requests, inode)
        self._offset += len(data)
        data = self._partial + moved + data
        complete, _, self._partial = data.rpartition(b"\n")
        found = []
        for line in complete.splitlines():
            try:
                found.append(RequestLine.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def _rest_of(self, path: Path, inode: int) -> bytes:
        """The bytes of ``path`` past the offset read so far, if it is the file ``inode``."""
        try:
            with path.open("rb") as feed:
                if os.fstat(feed.fileno()).st_ino != inode:
                    return b""
                feed.seek(self._offset)
                return feed.read()
        except OSError:
            return b""

    def _size(self) -> int:
        try:
            return self.paths.requests.stat().st_size
        except OSError:
            return 0

    def _inode(self) -> int:
        try:
            return self.paths.requests.stat().st_ino
        except OSError:
            return 0
