"""EventBridge's schedule expressions: what it accepts, what it refuses, when a rule fires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from teal.rules.schedule_expressions import Cron, Rate, ScheduleError, parse_schedule

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday

ACCEPTED = [
    ("rate(1 minute)", datetime(2024, 1, 1, 0, 1, tzinfo=UTC)),
    ("rate(5 minutes)", datetime(2024, 1, 1, 0, 5, tzinfo=UTC)),
    ("rate(1 hour)", datetime(2024, 1, 1, 1, 0, tzinfo=UTC)),
    ("rate(2 days)", datetime(2024, 1, 3, tzinfo=UTC)),
    ("cron(0 12 * * ? *)", datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
    ("cron(15 10 ? * 6L 2024)", datetime(2024, 1, 26, 10, 15, tzinfo=UTC)),  # last Friday
    ("cron(0/15 * ? * MON-FRI *)", datetime(2024, 1, 1, 0, 15, tzinfo=UTC)),
    ("cron(0 18 L * ? *)", datetime(2024, 1, 31, 18, 0, tzinfo=UTC)),
    ("cron(0 9 ? * 3#2 *)", datetime(2024, 1, 9, 9, 0, tzinfo=UTC)),  # second Tuesday
    ("cron(0 9 6W * ? *)", datetime(2024, 1, 5, 9, 0, tzinfo=UTC)),  # the 6th is a Saturday
    ("cron(0 8 1 JAN,JUL ? 2025-2026)", datetime(2025, 1, 1, 8, 0, tzinfo=UTC)),
    ("cron(30 2 ? * SUN *)", datetime(2024, 1, 7, 2, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize(("expression", "first"), ACCEPTED)
def test_accepted_expressions_and_when_they_first_fire(expression: str, first: datetime) -> None:
    schedule = parse_schedule(expression)
    assert schedule.next_after(T0, T0) == first


REFUSED = [
    ("rate(1 minutes)", "singular for 1"),
    ("rate(5 minute)", "write 'rate(5 minutes)'"),
    ("rate(0 minutes)", "positive whole number"),
    ("rate(1.5 hours)", "positive whole number"),
    ("rate(1 second)", "minute(s), hour(s) or day(s)"),
    ("rate(2 weeks)", "minute(s), hour(s) or day(s)"),
    ("cron(0 12 * * *)", "six fields"),
    ("cron(0 12 * * * *)", "one of day-of-month and day-of-week must be '?'"),
    ("cron(0 12 ? * ? *)", "one of day-of-month and day-of-week must be '?'"),
    ("cron(60 12 * * ? *)", "60 is outside 0-59"),
    ("cron(0 24 * * ? *)", "24 is outside 0-23"),
    ("cron(0 0 32 * ? *)", "32 is outside 1-31"),
    ("cron(0 0 * 13 ? *)", "13 is outside 1-12"),
    ("cron(0 0 ? * 8 *)", "8 is outside 1-7"),
    ("cron(0 0 * * ? 1969)", "1969 is outside 1970-2199"),
    ("cron(0 0 ? * 3#1,6#3 *)", "stand alone"),
    ("cron(0 0 1#2 * ? *)", "'#' belongs to day-of-week"),
    ("cron(0 0 ? * 3W *)", "'W' belongs to day-of-month"),
    ("cron(0 0 10-2 * ? *)", "runs backwards"),
    ("cron(0 0 * FOO ? *)", "not a value of this field"),
    ("every 5 minutes", "write 'rate(VALUE UNIT)'"),
]


@pytest.mark.parametrize(("expression", "reason"), REFUSED)
def test_refused_expressions_say_why(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression)
    assert reason in str(raised.value)


def test_a_rate_counts_its_periods_from_the_rules_creation() -> None:
    rate = parse_schedule("rate(5 minutes)")
    assert isinstance(rate, Rate)
    created = datetime(2024, 1, 1, 0, 2, tzinfo=UTC)
    assert rate.next_after(datetime(2024, 1, 1, 0, 9, tzinfo=UTC), created) == datetime(
        2024, 1, 1, 0, 12, tzinfo=UTC
    )
    assert rate.next_after(datetime(2024, 1, 1, 0, 12, tzinfo=UTC), created) == datetime(
        2024, 1, 1, 0, 17, tzinfo=UTC
    )


def test_a_cron_whose_years_are_over_fires_no_more() -> None:
    cron = parse_schedule("cron(0 0 1 1 ? 2020)")
    assert isinstance(cron, Cron)
    assert cron.next_after(T0) is None
