"""The warm-up event: what teal sends a function before traffic moves to it.

A switch (and the re-point of a replacement) would send a domain's whole load
to functions that never ran: every request of the first burst would pay the
app's import and its framework's startup. So teal first invokes each function
of the target environment with this event, once per execution environment it
wants ready. The runtime (:mod:`teal.runtime.entry`, and
:mod:`teal.runtime.authorize` for authorizers) recognises it before anything
else: it imports the app and runs its startup (an ASGI app's lifespan) as the
first request would, calls no handler, and answers which execution
environment it ran in.

``hold_s`` keeps the environment busy that long (from the handler's start):
Lambda hands an invocation to an idle environment when it has one, so each
warm-up must still be running when the others arrive, or several would land
on one environment (see :mod:`teal.cloud.aws.warming`).

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

WARM_UP_KEY = "teal-warm-up"  # no proxy, schedule or queue event carries it
MAX_HOLD_S = 10.0  # a warm-up never holds its environment longer than this
STREAM_VARIABLE = "AWS_LAMBDA_LOG_STREAM_NAME"  # one per execution environment


def warm_up_event(hold_s: float = 0.0) -> dict[str, Any]:
    return {WARM_UP_KEY: {"hold_s": hold_s}}


def is_warm_up(event: object) -> bool:
    return isinstance(event, Mapping) and WARM_UP_KEY in event


def answer_warm_up(event: Mapping[str, Any], prepare: Callable[[], object]) -> dict[str, Any]:
    """Run ``prepare`` (the app's import and startup), hold, and say where it ran.

    An error of ``prepare`` propagates: the invocation fails with it, as the first
    request would have, and teal reports it rather than switching."""
    started = time.monotonic()
    prepare()
    asked = event.get(WARM_UP_KEY)
    hold_s = _hold_of(asked.get("hold_s") if isinstance(asked, Mapping) else None)
    remaining = hold_s - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    return {"warmed": True, "environment": os.environ.get(STREAM_VARIABLE, "")}


def _hold_of(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return min(max(float(value), 0.0), MAX_HOLD_S)
