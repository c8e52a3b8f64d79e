"""An environment's logs as lines: requests, whole tracebacks, functions, following."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from teal.cloud.base import Invocation, LogPage, LogQuery, StageRef, Traffic
from teal.ops.logs import (
    OVERLAP_MS,
    Cursor,
    LogFollower,
    Pause,
    follow_logs,
    parse_since,
    read_logs,
)
from teal.rules.lambda_logs import Assembler, LogEvent, SourceMap, function_of
from teal.runtime.errors import UserError

ENV = "blog-dev"
GROUP = "/aws/lambda/blog-dev"
R1 = "11111111-1111-4111-8111-111111111111"
R2 = "22222222-2222-4222-8222-222222222222"


def stream(function: str, n: int = 1) -> str:
    return f"2026/05/01/{function}[$LATEST]{n:032x}"


class Events:
    """Events of one stream, numbered in order, a millisecond apart."""

    def __init__(self, name: str, start_ms: int = 1_000) -> None:
        self.name = name
        self.at = start_ms
        self.events: list[LogEvent] = []

    def __call__(self, *messages: str) -> Events:
        for message in messages:
            self.events.append(
                LogEvent(self.at, GROUP, self.name, message, f"{self.name}:{self.at}")
            )
            self.at += 1
        return self


def lines_of(*events: Sequence[LogEvent]) -> list[tuple[str, str | None, str]]:
    assembler = Assembler(ENV)
    merged = sorted((e for chunk in events for e in chunk), key=lambda e: e.timestamp_ms)
    assembler.add(merged)
    return [(line.function, line.request_id, line.message) for line in assembler.take()]


def invocation(request_id: str, *output: str) -> list[str]:
    return [
        f"START RequestId: {request_id} Version: $LATEST",
        *output,
        f"END RequestId: {request_id}",
        f"REPORT RequestId: {request_id}\tDuration: 1.00 ms\tBilled Duration: 1 ms",
    ]


# ---------------------------------------------------------------- requests and functions


def test_lines_between_start_and_end_belong_to_that_request() -> None:
    posts = Events(stream("blog-dev-posts"))(*invocation(R1, "one"), *invocation(R2, "two"))
    found = lines_of(posts.events)
    assert ("posts", R1, "one") in found
    assert ("posts", R2, "two") in found
    assert all(request in (R1, R2) for _, request, _ in found)


def test_lines_read_before_their_start_belong_to_the_request_that_ends_next() -> None:
    """A window that begins mid-request: the request's END names it."""
    posts = Events(stream("blog-dev-posts"))(
        "printed early", f"END RequestId: {R1}", *invocation(R2, "later")
    )
    found = lines_of(posts.events)
    assert ("posts", R1, "printed early") in found
    assert ("posts", R2, "later") in found


def test_each_stream_keeps_its_own_request() -> None:
    """Two execution environments serve at the same time; their lines interleave."""
    one = Events(stream("blog-dev-posts", 1), 1_000)(*invocation(R1, "from one"))
    two = Events(stream("blog-dev-posts", 2), 1_001)(*invocation(R2, "from two"))
    found = lines_of(one.events, two.events)
    assert ("posts", R1, "from one") in found
    assert ("posts", R2, "from two") in found


def test_python_logging_lines_name_their_request() -> None:
    posts = Events(stream("blog-dev-posts"))(f"[INFO]\t2026-05-01T00:00:00.000Z\t{R2}\tlogged")
    assert lines_of(posts.events) == [
        ("posts", R2, f"[INFO]\t2026-05-01T00:00:00.000Z\t{R2}\tlogged")
    ]


def test_every_generation_of_a_function_is_the_apps_function() -> None:
    assert function_of(ENV, stream("blog-dev-posts"), GROUP) == ("posts", "blog-dev-posts")
    assert function_of(ENV, stream("blog-dev-posts-g3"), GROUP) == ("posts", "blog-dev-posts-g3")
    # a function's own log group (no shared group): the name is the group's
    own = "/aws/lambda/blog-dev-home"
    assert function_of(ENV, "2026/05/01/[$LATEST]abc", own) == ("home", "blog-dev-home")


# ---------------------------------------------------------------- tracebacks


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/var/task/app.py", line 3, in handler',
    "    return 1 / 0",
    "ZeroDivisionError: division by zero",
]


def test_a_traceback_printed_line_by_line_is_one_line() -> None:
    """On AWS each printed line is an event of its own."""
    posts = Events(stream("blog-dev-posts"))(*invocation(R1, "before", *TRACEBACK, "after"))
    found = lines_of(posts.events)
    whole = [m for _, _, m in found if m.startswith("Traceback")]
    assert whole == ["\n".join(TRACEBACK)]
    assert ("posts", R1, "after") in found
    assert [m for _, _, m in found].index("before") < [m for _, _, m in found].index(whole[0])


def test_a_chained_traceback_stays_whole() -> None:
    chained = [
        *TRACEBACK,
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/var/task/app.py", line 5, in handler',
        "    raise KeyError('x')",
        "KeyError: 'x'",
    ]
    posts = Events(stream("blog-dev-posts"))(*invocation(R1, *chained))
    whole = [m for _, _, m in lines_of(posts.events) if m.startswith("Traceback")]
    assert whole == ["\n".join(chained)]


def test_tracebacks_of_two_streams_do_not_mix() -> None:
    one = Events(stream("blog-dev-posts", 1), 1_000)(*invocation(R1, *TRACEBACK))
    two = Events(stream("blog-dev-home", 2), 1_002)(*invocation(R2, "between"))
    found = lines_of(one.events, two.events)
    assert ("posts", R1, "\n".join(TRACEBACK)) in found
    assert ("home", R2, "between") in found


def test_failures_are_what_a_5xx_comes_from() -> None:
    assembler = Assembler(ENV)
    assembler.add(
        Events(stream("blog-dev-posts"))(
            *invocation(R1, "fine", *TRACEBACK),
            "[ERROR] ValueError: bad\nTraceback (most recent call last):\n  File ...",
            f"2026-05-01T00:00:00.000Z {R2} Task timed out after 3.00 seconds",
        ).events
    )
    failed = [line.message.split("\n")[0] for line in assembler.take() if line.failed]
    assert failed == [
        "Traceback (most recent call last):",
        "[ERROR] ValueError: bad",
        f"2026-05-01T00:00:00.000Z {R2} Task timed out after 3.00 seconds",
    ]


# ---------------------------------------------------------------- --since


def test_since_takes_durations_and_times() -> None:
    now = 10_000_000_000
    assert parse_since("30s", now) == now - 30_000
    assert parse_since("10m", now) == now - 600_000
    assert parse_since("2h", now) == now - 7_200_000
    assert parse_since("1d", now) == now - 86_400_000
    assert parse_since("2026-05-01T00:00:00Z", now) == 1_777_593_600_000


def test_since_that_is_neither_is_bad_input() -> None:
    with pytest.raises(UserError, match="neither a duration nor a time"):
        parse_since("yesterday", 0)


# ---------------------------------------------------------------- reading through the seam


class LogsOnly:
    """A typed fake of the Cloud seam's log read: a list of events, served in pages of
    ``page_size``, with every query recorded."""

    name = "fake"

    def __init__(self, events: list[LogEvent], page_size: int = 1_000) -> None:
        self.events = events
        self.page_size = page_size
        self.queries: list[LogQuery] = []

    def read_logs(self, query: LogQuery) -> Iterator[LogPage]:
        self.queries.append(query)
        chosen = sorted(
            (
                e
                for e in self.events
                if e.group == query.group
                and e.timestamp_ms >= query.start_ms
                and (query.end_ms is None or e.timestamp_ms < query.end_ms)
            ),
            key=lambda e: e.timestamp_ms,
        )
        for first in range(0, len(chosen), self.page_size):
            yield LogPage(tuple(chosen[first : first + self.page_size]))

    def invoke_function(self, name: str, event: Any) -> Invocation:
        raise NotImplementedError

    def traffic(self, stages: Sequence[StageRef], window_s: int) -> list[Traffic]:
        raise NotImplementedError


def test_reading_filters_by_function_and_keeps_the_last_lines() -> None:
    posts = Events(stream("blog-dev-posts"), 1_000)(*invocation(R1, "p"))
    home = Events(stream("blog-dev-home"), 2_000)(*invocation(R2, "h"))
    cloud = LogsOnly(posts.events + home.events)
    report = read_logs(cloud, ENV, 0, function="posts")  # type: ignore[arg-type]
    assert {line.function for line in report.lines} == {"posts"}
    assert cloud.queries == [LogQuery(GROUP, 0)]  # one group: one query, whatever the functions
    last = read_logs(cloud, ENV, 0, limit=2)  # type: ignore[arg-type]
    assert [line.message.split(" ")[0] for line in last.lines] == ["END", "REPORT"]
    assert last.lines[-1].request_id == R2


# ---------------------------------------------------------------- following


def test_a_cursor_shows_each_event_once_and_misses_none_that_come_late() -> None:
    """CloudWatch may make an event readable after later ones: a read starts before the
    newest event seen, and the ids already shown are skipped."""
    cursor = Cursor(start_ms=0)
    early = [LogEvent(1_000, GROUP, "s", "a", "1"), LogEvent(5_000, GROUP, "s", "b", "2")]
    assert [e.id for e in cursor.admit(early)] == ["1", "2"]
    assert cursor.query_start() == max(0, 5_000 - OVERLAP_MS)
    late = LogEvent(4_000, GROUP, "t", "came late", "3")  # written before b, readable after
    again = [*early, late]
    assert [e.id for e in cursor.admit(again)] == ["3"]
    assert cursor.admit(again) == []


def test_a_cursor_forgets_ids_it_will_not_read_again() -> None:
    cursor = Cursor(start_ms=0)
    old = LogEvent(1_000, GROUP, "s", "old", "1")
    new = LogEvent(1_000 + 2 * OVERLAP_MS, GROUP, "s", "new", "2")
    cursor.admit([old, new])
    cursor.forget_old({"1": old.timestamp_ms, "2": new.timestamp_ms})
    assert cursor.seen == {"2"}


def test_following_yields_new_lines_once_and_backs_off_while_quiet() -> None:
    events = Events(stream("blog-dev-posts"), 1_000)(*invocation(R1, "first"))
    cloud = LogsOnly(list(events.events))
    sleeps: list[float] = []
    polls = iter(range(6))

    def keep_going() -> bool:
        turn = next(polls, None)
        if turn == 3:  # a request arrives while following
            events(*invocation(R2, "second"))
            cloud.events = list(events.events)
        return turn is not None

    follower = follow_logs(
        cloud,  # type: ignore[arg-type]
        ENV,
        0,
        pause=Pause(first=1.0, factor=2.0, cap=4.0),
        sleep=sleeps.append,
        keep_going=keep_going,
    )
    messages = [line.message for line in follower]
    assert [m for m in messages if not m.startswith(("START", "END", "REPORT"))] == [
        "first",
        "second",
    ]
    assert len(messages) == len(set(messages))  # nothing twice
    assert sleeps == [1.0, 2.0, 4.0, 1.0, 2.0, 4.0]


def test_a_follower_keeps_a_traceback_until_it_is_whole() -> None:
    events = Events(stream("blog-dev-posts"), 1_000)(
        f"START RequestId: {R1} Version: $LATEST", *TRACEBACK[:2]
    )
    cloud = LogsOnly(list(events.events))
    follower = LogFollower(cloud, ENV, 0)  # type: ignore[arg-type]
    assert [line.message for line in follower.poll()] == [f"START RequestId: {R1} Version: $LATEST"]
    events(*TRACEBACK[2:], f"END RequestId: {R1}")
    cloud.events = list(events.events)
    assert [line.message for line in follower.poll()] == [
        "\n".join(TRACEBACK),
        f"END RequestId: {R1}",
    ]


def test_a_tracebacks_frames_name_the_projects_files_where_they_ran() -> None:
    sources = SourceMap("/home/me/blog", frozenset({"app.py", "lib/store.py"}))
    local = "/home/me/.local/share/teal/code/" + "ab12" * 16
    message = (
        "Traceback (most recent call last):\n"
        f'  File "{local}/app.py", line 12, in boom\n'
        '  File "/var/task/lib/store.py", line 3, in read\n'
        '  File "/var/task/fastapi/routing.py", line 9, in run\n'
        '  File "/var/task/teal_runtime/entry.py", line 40, in handler\n'
        "ZeroDivisionError: division by zero"
    )
    mapped = sources.apply(message).splitlines()
    assert mapped[1] == '  File "/home/me/blog/app.py", line 12, in boom'
    assert mapped[2] == '  File "/home/me/blog/lib/store.py", line 3, in read'
    # a requirement and teal's runtime are not the project's: where they ran
    assert mapped[3:5] == message.splitlines()[3:5]
