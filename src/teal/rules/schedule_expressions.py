"""EventBridge's schedule expressions: checked as EventBridge checks them, and evaluated.

Two forms (EventBridge's user guide, "Schedule expressions for rules"):

- ``rate(value unit)``: a positive whole number and ``minute``, ``hour`` or
  ``day``, singular for 1 and plural above (``rate(1 hour)``, ``rate(5 hours)``;
  ``rate(1 hours)`` and ``rate(5 hour)`` are refused). The period starts when
  the rule is created.
- ``cron(minutes hours day-of-month month day-of-week year)``, always in UTC,
  six fields: minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or
  JAN-DEC, day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199. Every
  field takes ``,`` ``-`` ``*`` ``/``; day-of-month also ``?``, ``L`` (the
  last day) and ``W`` (``3W``: the weekday nearest the 3rd); day-of-week
  also ``?``, ``L`` (``6L``: the month's last Friday) and ``#`` (``3#2``: its
  second Tuesday, alone in the field). One of the two day fields is ``?``,
  never both.

:func:`parse_schedule` refuses what EventBridge refuses, with the reason;
:meth:`Schedule.next_after` gives the next time a rule fires, for the local
cloud's scheduler.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

RATE = re.compile(r"^rate\((?P<value>\S+)\s+(?P<unit>\S+)\)$")
CRON = re.compile(r"^cron\((?P<fields>.*)\)$")
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
BOUNDS = {
    "minutes": (0, 59),
    "hours": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2199),
}


class ScheduleError(ValueError):
    """An expression EventBridge would refuse; the message says why."""


@dataclass(frozen=True)
class Rate:
    """``rate(...)``: every ``seconds``, counted from the rule's creation."""

    seconds: int

    def next_after(self, moment: datetime, start: datetime) -> datetime:
        """The first firing strictly after ``moment`` (the rule was created at ``start``)."""
        if moment < start:
            return start + timedelta(seconds=self.seconds)
        periods = math.floor((moment - start).total_seconds() / self.seconds) + 1
        return start + timedelta(seconds=periods * self.seconds)


DayTest = Callable[[date], bool]


@dataclass(frozen=True)
class Cron:
    """``cron(...)``: the minutes, hours, months and years it fires in, and its days."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day: DayTest

    def next_after(self, moment: datetime, start: datetime | None = None) -> datetime | None:
        """The first firing strictly after ``moment`` (UTC), or None when none is left."""
        first = (moment.astimezone(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        day, last_year = first.date(), max(self.years)
        while day.year <= last_year:
            if day.year not in self.years or day.month not in self.months:
                day = _next_month(day) if day.year in self.years else date(day.year + 1, 1, 1)
                continue
            if self.day(day):
                found = self._time_on(day, first)
                if found is not None:
                    return found
            day += timedelta(days=1)
        return None

    def _time_on(self, day: date, first: datetime) -> datetime | None:
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                if moment >= first:
                    return moment
        return None


Schedule = Rate | Cron


def parse_schedule(expression: str) -> Schedule:
    """The schedule an expression describes; :class:`ScheduleError` if EventBridge refuses it."""
    if not isinstance(expression, str):
        raise ScheduleError("a schedule expression is a string: 'rate(...)' or 'cron(...)'")
    text = expression.strip()
    if found := RATE.match(text):
        return _rate(found.group("value"), found.group("unit"))
    if found := CRON.match(text):
        return _cron(found.group("fields"))
    raise ScheduleError(
        "write 'rate(VALUE UNIT)', such as 'rate(5 minutes)', or a six-field "
        "'cron(minutes hours day-of-month month day-of-week year)', such as "
        "'cron(0 12 * * ? *)'"
    )


def _rate(value: str, unit: str) -> Rate:
    if not value.isdigit() or int(value) < 1:
        raise ScheduleError(f"rate: the value must be a positive whole number (got {value!r})")
    number = int(value)
    singular = unit.removesuffix("s")
    if singular not in UNITS:
        raise ScheduleError(f"rate: the unit must be minute(s), hour(s) or day(s) (got {unit!r})")
    wanted = singular if number == 1 else singular + "s"
    if unit != wanted:
        raise ScheduleError(
            f"rate: EventBridge wants the unit singular for 1 and plural above: "
            f"write 'rate({number} {wanted})'"
        )
    return Rate(number * UNITS[singular])


def _cron(text: str) -> Cron:
    fields = text.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"cron: six fields, separated by spaces (minutes hours day-of-month month "
            f"day-of-week year), and this has {len(fields)}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            "cron: one of day-of-month and day-of-week must be '?' and the other not: "
            "EventBridge takes a day from one field only (e.g. 'cron(0 12 * * ? *)')"
        )
    return Cron(
        minutes=_values(minutes, "minutes"),
        hours=_values(hours, "hours"),
        months=_values(month, "month", MONTHS),
        years=_values(year, "year"),
        day=_day_of_week(dow) if dom == "?" else _day_of_month(dom),
    )


def _values(text: str, name: str, names: dict[str, int] | None = None) -> frozenset[int]:
    """The numbers a field of ``, - * /`` holds."""
    low, high = BOUNDS[name]
    found: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, name, 1, high - low + 1) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            head, _, tail = base.partition("-")
            first, last = (
                _number(head, name, low, high, names),
                _number(tail, name, low, high, names),
            )
            if first > last:
                raise ScheduleError(f"cron {name}: the range {base} runs backwards")
        else:
            first = _number(base, name, low, high, names)
            last = high if step_text else first
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _number(text: str, name: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    upper = text.upper()
    if names is not None and upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(
            f"cron {name}: {text!r} is not a value of this field ({low}-{high}"
            + (", or a name such as JAN or SUN" if names else "")
            + "; wildcards , - * /"
            + (" ? L W" if name == "day-of-month" else " ? L #" if name == "day-of-week" else "")
            + ")"
        )
    number = int(text)
    if not low <= number <= high:
        raise ScheduleError(f"cron {name}: {number} is outside {low}-{high}")
    return number


def _day_of_month(text: str) -> DayTest:
    if text == "L":
        return lambda day: day.day == _month_length(day)
    if found := re.fullmatch(r"(\d{1,2})W", text):
        wanted = _number(found.group(1), "day-of-month", 1, 31)
        return lambda day: day == _nearest_weekday(day, wanted)
    if any(mark in text for mark in "LW?#"):
        raise ScheduleError(
            f"cron day-of-month: {text!r}: 'L' and 'nW' stand alone in the field, and '#' "
            "belongs to day-of-week"
        )
    days = _values(text, "day-of-month")
    return lambda day: day.day in days


def _day_of_week(text: str) -> DayTest:
    if found := re.fullmatch(r"(\w+)#(\d)", text):
        weekday = _number(found.group(1), "day-of-week", 1, 7, WEEKDAYS)
        nth = int(found.group(2))
        if not 1 <= nth <= 5:
            raise ScheduleError(f"cron day-of-week: {text!r}: the week of the month is 1-5")
        return lambda day: _weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if text == "L":
        return lambda day: _weekday(day) == 7  # the week's last day: Saturday
    if found := re.fullmatch(r"(\w+)L", text):
        weekday = _number(found.group(1), "day-of-week", 1, 7, WEEKDAYS)
        return lambda day: _weekday(day) == weekday and day.day + 7 > _month_length(day)
    if any(mark in text for mark in "LW?#"):
        raise ScheduleError(
            f"cron day-of-week: {text!r}: '#' ('3#2') and 'L' ('6L') stand alone in the field, "
            "and 'W' belongs to day-of-month"
        )
    weekdays = _values(text, "day-of-week", WEEKDAYS)
    return lambda day: _weekday(day) in weekdays


def _weekday(day: date) -> int:
    """EventBridge's numbering: 1 is Sunday, 7 is Saturday."""
    return day.isoweekday() % 7 + 1


def _month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, wanted: int) -> date:
    """The weekday (Monday-Friday) nearest the ``wanted`` day of ``day``'s month, in it."""
    target = date(day.year, day.month, min(wanted, _month_length(day)))
    if target.isoweekday() == 6:  # Saturday: Friday before, unless that leaves the month
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    if target.isoweekday() == 7:  # Sunday: Monday after, unless that leaves the month
        if target.day < _month_length(target):
            return target + timedelta(days=1)
        return target - timedelta(days=2)
    return target


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_seconds(schedule: Schedule) -> int | None:
    """A rate's period; None for a cron."""
    return schedule.seconds if isinstance(schedule, Rate) else None
