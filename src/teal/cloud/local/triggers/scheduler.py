"""EventBridge's scheduled rules, fired by the local gateway while it runs.

Every tick (a few times a second) the scheduler reads the enabled rules that
have a schedule, and invokes each rule's Lambda targets when the rule is
due, with EventBridge's scheduled event (:mod:`teal.cloud.local.triggers.trigger_events`):

- a rate counts its periods from the rule's creation (or the last change of
  its expression); a cron fires at its minutes, in UTC;
- EventBridge invokes a function only where the function's resource policy
  lets ``events.amazonaws.com`` do so for the rule (``AWS::Lambda::Permission``);
  without it, nothing runs, as on AWS;
- the invocation is asynchronous, as EventBridge's is: a failed one is tried
  twice more by Lambda, a minute and then two minutes later;
- times the gateway did not run are not made up for: after a start, a rule
  fires at its next time.

Which rules fire: every environment's. A schedule belongs to the stack that
defines it, as on AWS; switching a domain moves requests, never a stack's
rules. The clock may run fast for tests (:class:`ScheduleClock`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from teal.cloud.local.functions import catalog
from teal.cloud.local.functions.workers import InvocationError
from teal.cloud.local.model import FunctionSpec
from teal.cloud.local.triggers import event_rules
from teal.cloud.local.triggers.trigger_events import scheduled_event
from teal.rules.schedule_expressions import Schedule, ScheduleError, parse_schedule

log = logging.getLogger("teal.local.scheduler")

EVENTS_PRINCIPAL = "events.amazonaws.com"
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2))  # Lambda's async retries
SPEED_VARIABLE = "TEAL_LOCAL_SCHEDULE_SPEED"  # tests only: scheduler seconds per real second


class ScheduleClock:
    """The scheduler's time: real time, or (for tests) time running ``speed`` times as fast
    from the moment the clock was made. Stored times (a rule's creation) are real, and
    are read through :meth:`at` so the two agree."""

    def __init__(self, speed: float = 1.0, real: Callable[[], datetime] | None = None) -> None:
        self.speed = speed
        self._real = real or (lambda: datetime.now(UTC))
        self._start = self._real()

    def now(self) -> datetime:
        return self.at(self._real())

    def at(self, real: datetime) -> datetime:
        """The scheduler's time for a real moment."""
        if self.speed == 1.0 or real <= self._start:
            return real
        return self._start + (real - self._start) * self.speed

    def wait_s(self, scheduled: timedelta) -> float:
        return scheduled.total_seconds() / self.speed


Invoke = Callable[[FunctionSpec, Any, str], Any]  # a coroutine function: WorkerManager.invoke
Functions = Callable[[str], FunctionSpec | None]  # a function by its ARN


@dataclass(frozen=True)
class RuleRecord:
    name: str
    arn: str
    schedule: str
    targets: tuple[str, ...]  # the targets' ARNs
    created: datetime


@dataclass
class _Retry:
    due: datetime
    rule: RuleRecord
    target: str
    event: dict[str, Any]
    attempt: int


@dataclass
class Scheduler:
    """The rules' next times and the invocations they make."""

    conn: sqlite3.Connection
    invoke: Invoke
    functions: Functions
    clock: ScheduleClock = field(default_factory=ScheduleClock)
    fired: int = 0  # invocations started, for the gateway's health answer
    _next: dict[tuple[str, str, datetime], datetime] = field(default_factory=dict)
    _retries: list[_Retry] = field(default_factory=list)
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    def tick(self) -> None:
        """Fire what is due now; remember when each rule is due next."""
        now = self.clock.now()
        seen = set()
        for rule in self._rules():
            schedule = _parsed(rule.schedule)
            if schedule is None:
                continue
            key = (rule.arn, rule.schedule, rule.created)
            seen.add(key)
            due = self._next.get(key) or schedule.next_after(now, rule.created)
            if due is not None and due <= now:
                for target in rule.targets:
                    self._start(rule, target, scheduled_event(rule.arn, due), 0)
                due = schedule.next_after(now, rule.created)
            if due is not None:
                self._next[key] = due
        for key in set(self._next) - seen:
            del self._next[key]
        self._retry_due(now)

    def _rules(self) -> list[RuleRecord]:
        return [
            RuleRecord(
                rule.name,
                rule.arn,
                rule.schedule,
                rule.target_arns,
                self.clock.at(datetime.fromtimestamp(rule.created_ms / 1000, UTC)),
            )
            for rule in event_rules.scheduled_rules(self.conn)
        ]

    def _start(self, rule: RuleRecord, target: str, event: dict[str, Any], attempt: int) -> None:
        spec = self.functions(target)
        if spec is None or ":function:" not in target:
            log.warning(
                "rule %s: its target %s is no function the local cloud has", rule.name, target
            )
            return
        if not self._permitted(spec, rule):
            log.warning(
                "rule %s: function %s does not let EventBridge invoke it (no "
                "AWS::Lambda::Permission for %s): nothing runs, as on AWS",
                rule.name,
                spec.name,
                EVENTS_PRINCIPAL,
            )
            return
        self.fired += 1
        task = asyncio.get_running_loop().create_task(
            self._call(rule, target, spec, event, attempt)
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _permitted(self, spec: FunctionSpec, rule: RuleRecord) -> bool:
        return catalog.may_invoke(self.conn, spec.name, EVENTS_PRINCIPAL, rule.arn)

    async def _call(
        self, rule: RuleRecord, target: str, spec: FunctionSpec, event: dict[str, Any], attempt: int
    ) -> None:
        try:
            await self.invoke(spec, event, str(uuid.uuid4()))
        except InvocationError as error:
            if attempt < len(RETRY_DELAYS):
                due = self.clock.now() + RETRY_DELAYS[attempt]
                self._retries.append(_Retry(due, rule, target, event, attempt + 1))
            log.warning(
                "rule %s: function %s failed (attempt %d): %s",
                rule.name,
                spec.name,
                attempt + 1,
                error,
            )
        except Exception:  # the scheduler must outlive any one invocation
            log.exception("rule %s: invoking %s failed", rule.name, spec.name)

    def _retry_due(self, now: datetime) -> None:
        due = [r for r in self._retries if r.due <= now]
        self._retries = [r for r in self._retries if r.due > now]
        for retry in due:
            self._start(retry.rule, retry.target, retry.event, retry.attempt)

    async def settled(self) -> None:
        """Once the invocations in flight have ended."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


@cache
def _parsed(expression: str) -> Schedule | None:
    try:
        return parse_schedule(expression)
    except ScheduleError:
        return None  # the provider checked it; a state written otherwise is skipped
