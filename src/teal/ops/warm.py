"""Warm before traffic: ready the target's functions before a domain moves to it.

A switch, a rollback and the re-point of a replacement send all of a domain's
traffic to functions that may never have run; each execution environment the
first burst needs would pay the app's import and its framework's startup (half
a second to ten for a Django or FastAPI app) while users wait. So before the
mapping moves, each function of the target environment gets as many
execution environments ready as the live environment has been using:

- ``[functions.NAME] warm = N`` fixes N (0: the function is not warmed); the
  deployed environment keeps it (its template's metadata), so a switch warms
  the environment as it was deployed;
- else the live function's peak of invocations at once over the last hour
  (:data:`PEAK_WINDOW_S`; Lambda's ``ConcurrentExecutions`` on AWS, the local
  gateway's counts locally), at least 1 and at most
  :data:`teal.project.config.MAX_WARM`.

Each environment runs the warm-up event (:mod:`teal.runtime.warmup`): the
app's import and startup, no handler. A function whose app fails to start
fails the warm-up, and the switch stops there: the domain keeps serving what
it served. ``--no-warm`` skips all of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from teal.cloud.base import Cloud, Warmed
from teal.progress import Progress
from teal.project.config import MAX_WARM, Target
from teal.runtime.errors import OperationError
from teal.template.synth import METADATA_KEY, WARM_KEY
from teal.template.types import Template
from teal.template.versions import ALIAS_NAME

PEAK_WINDOW_S = 3600  # "what live has been using": its peak over the last hour
warnings_log = logging.getLogger("teal.warnings")


@dataclass(frozen=True)
class FunctionWarm:
    """How one function of the target is warmed."""

    function: str  # the app's name for it
    name: str  # the Lambda function's
    concurrency: int
    source: Literal["warm", "peak"]  # [functions.NAME] warm, or the live peak


@dataclass(frozen=True)
class WarmReport:
    """What warming did: the execution environments ready per function, and how long."""

    warmed: Mapping[str, int]  # by the app's function names
    seconds: float
    skipped: str | None = None  # why nothing was warmed, when nothing was

    def to_json(self) -> dict[str, Any]:
        return {"warmed": dict(self.warmed), "warm_seconds": round(self.seconds, 2)}

    def line(self) -> str:
        """For people: ``posts: 3, app: 1 in 1.2 s`` (execution environments ready)."""
        if self.skipped is not None:
            return f"not warmed: {self.skipped}"
        ready = ", ".join(f"{name}: {n}" for name, n in sorted(self.warmed.items()))
        return f"{ready or 'no function'} in {self.seconds:.1f} s"


class WarmUpFailed(OperationError):
    """A function of the target did not start: the switch does not happen."""


def _meta(template: Template | None) -> Mapping[str, Any]:
    meta = (template or {}).get("Metadata", {}).get(METADATA_KEY, {})
    return meta if isinstance(meta, Mapping) else {}


def functions_of(template: Template | None) -> dict[str, str]:
    """The app's function names and their Lambda functions, as the template deploys them."""
    found = _meta(template).get("functions", {})
    if not isinstance(found, Mapping):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def knows_warm_up(template: Template | None) -> bool:
    """Whether the environment's runtime recognises the warm-up event (its template says
    so): one deployed by an earlier teal would hand the event to a handler."""
    return isinstance(_meta(template).get(WARM_KEY), Mapping)


def plan_warm(cloud: Cloud, target: Template, live: Template | None) -> tuple[FunctionWarm, ...]:
    """How each function of ``target`` is warmed, from its fixed ``warm`` or the peak of
    the same function in ``live`` (the environment the domain serves now, if any)."""
    fixed = {str(k): int(v) for k, v in dict(_meta(target).get(WARM_KEY) or {}).items()}
    ours, theirs = functions_of(target), functions_of(live)
    peaks = _peaks(cloud, [theirs[f] for f in sorted(ours) if f not in fixed and f in theirs])
    planned = []
    for function, name in sorted(ours.items()):
        if function in fixed:
            if fixed[function] > 0:
                planned.append(FunctionWarm(function, name, fixed[function], "warm"))
            continue
        peak = peaks.get(theirs.get(function, ""), 0)
        planned.append(FunctionWarm(function, name, min(MAX_WARM, max(1, peak)), "peak"))
    return tuple(planned)


def _peaks(cloud: Cloud, names: Sequence[str]) -> dict[str, int]:
    """The live functions' peaks; unreadable numbers (CloudWatch refused) warm one each."""
    if not names:
        return {}
    try:
        return cloud.peak_concurrency(names, PEAK_WINDOW_S)
    except OperationError as error:
        warnings_log.warning("warming one environment per function: %s", error.what)
        return {}


def warm_environment(
    cloud: Cloud,
    goal: Target,
    target: Template | None,
    live: Template | None,
    progress: Progress,
) -> WarmReport:
    """Warm the functions of ``target`` (the template ``goal`` deployed), all at once;
    raise :class:`WarmUpFailed` when one of them does not start."""
    if not knows_warm_up(target):
        why = f"{goal.environment} was deployed by an earlier teal (deploy it again to warm it)"
        progress(f"not warming: {why}")
        return WarmReport({}, 0.0, skipped=why)
    planned = plan_warm(cloud, target or {}, live)
    if not planned:
        return WarmReport({}, 0.0)
    described = ", ".join(f"{p.function}: {p.concurrency}" for p in planned)
    progress(f"warming {goal.environment} before traffic (execution environments): {described}")
    cloud.ensure_serving()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(planned), thread_name_prefix="warm") as pool:
        results = list(
            pool.map(lambda p: cloud.warm_function(p.name, p.concurrency, ALIAS_NAME), planned)
        )
    seconds = time.monotonic() - started
    _refuse_failed(goal, planned, results)
    report = WarmReport(
        {p.function: r.ready for p, r in zip(planned, results, strict=True)}, seconds
    )
    for p, r in zip(planned, results, strict=True):
        if r.ready < p.concurrency:
            warnings_log.warning(
                "%s: %d of %d execution environments warmed (its concurrency is capped lower: "
                "its reserved concurrency, the account's, or the local pool's)",
                p.function,
                r.ready,
                p.concurrency,
            )
    progress(f"warmed {goal.environment}: {report.line()}")
    return report


def _refuse_failed(
    goal: Target, planned: Sequence[FunctionWarm], results: Sequence[Warmed]
) -> None:
    failed = [(p, r) for p, r in zip(planned, results, strict=True) if r.error is not None]
    if not failed:
        return
    lines = "\n".join(
        f"  - {p.function} ({p.name}): {r.error.type}: {r.error.message}"
        for p, r in failed
        if r.error is not None
    )
    raise WarmUpFailed(
        f"{len(failed)} function(s) of {goal.environment} failed to start while warming, "
        f"so traffic was not moved to it:\n{lines}",
        where=goal.environment,
        hint=f"see what it logged (teal logs{goal.flags}), fix the app and deploy it again "
        f"(teal deploy{goal.flags})",
    )
