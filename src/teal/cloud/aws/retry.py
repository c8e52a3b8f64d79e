"""Backoff for polling and for calls that AWS throttles.

botocore retries throttled calls itself, but a long deploy polls for many
minutes and an account shared by CI jobs can throttle past botocore's budget;
a deploy must not fail because it asked too often how the deploy is going.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from botocore.exceptions import ClientError

P = ParamSpec("P")
R = TypeVar("R")

Sleep = Callable[[float], None]

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


@dataclass(frozen=True)
class Backoff:
    """Exponential delays: ``first``, ``first * factor``, ... capped at ``cap`` seconds."""

    first: float = 1.0
    factor: float = 1.5
    cap: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


@dataclass(frozen=True)
class Retrier:
    """Calls a function again after throttling errors, sleeping with backoff."""

    sleep: Sleep = time.sleep
    backoff: Backoff = Backoff(first=0.5, factor=2.0, cap=20.0)
    attempts: int = 8

    def __call__(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        delays = self.backoff.delays()
        for _ in range(self.attempts - 1):
            try:
                return call(*args, **kwargs)
            except ClientError as error:
                if not is_throttling(error):
                    raise
                self.sleep(next(delays))
        return call(*args, **kwargs)
