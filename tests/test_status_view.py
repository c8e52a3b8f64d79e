"""The relative times `teal status` shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from teal.cli.status_view import ago

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "shown"),
    [
        (timedelta(seconds=2), "just now"),
        (timedelta(seconds=40), "40 s ago"),
        (timedelta(minutes=3, seconds=59), "3 min ago"),
        (timedelta(hours=5, minutes=1), "5 h ago"),
        (timedelta(days=2, hours=23), "2 d ago"),
    ],
)
def test_times_are_relative(before: timedelta, shown: str) -> None:
    assert ago((NOW - before).isoformat(), NOW) == shown


def test_a_time_without_a_zone_is_utc_as_teal_writes_it() -> None:
    assert ago("2026-12-07T11:57:00", NOW) == "3 min ago"
