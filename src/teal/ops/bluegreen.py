"""Manual blue-green: check, switch, rollback, delete and status of environments.

Deploy a parallel copy (``--extra 2``), test it (``check``), point the custom
domain at it (``switch``), go back in one command (``rollback``), remove the
old copy (``delete``). Everything goes through the Cloud seam; a switch is
one atomic mapping update, verified through the domain and undone by itself
when the domain does not answer. A watched switch then reads the new live
environment's traffic (:mod:`teal.ops.watch`) and switches back, as ``rollback``
does, when it breaches the limits.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from teal.cloud.base import (
    Action,
    AliasState,
    ApiKeyInfo,
    Cloud,
    DeployedStack,
    DomainInfo,
    EventSink,
    HeldLock,
    HistoryEntry,
    ServingHealth,
    StageRef,
    Traffic,
    last_domain_move,
    rollback_target,
)
from teal.ops.checks import CheckResult, checks_for, health_check, run_check, run_checks
from teal.ops.crashpoints import crash_point
from teal.ops.domains import MappingRow, view_domain
from teal.ops.environments import (
    DomainState,
    Environment,
    Preview,
    StackApis,
    domain_lock_key,
    environments,
    find_environment,
    find_preview,
    point_domain,
    read_domain,
    refuse_removing_mapped_apis,
)
from teal.ops.oplog import Operation, locks_of, now, stale_reason
from teal.ops.settle import settle_interrupted
from teal.ops.warm import WarmReport, warm_environment
from teal.ops.watch import check_watch_length, watch_traffic
from teal.processes import this_process
from teal.progress import Progress, quiet
from teal.project.config import Check, DomainSpec, Target
from teal.rules.labels import APP_TAG
from teal.rules.watch_rules import Verdict, WatchedStage, WatchGuard, WatchLimits, WatchReport
from teal.runtime.errors import OperationError, TealError, UserError
from teal.runtime.routes import RouteTable
from teal.template.synth import artifact_keys
from teal.template.versions import ALIAS_NAME

VERIFY_ATTEMPTS = 10
TRAFFIC_WINDOW_S = 300  # teal status: the traffic of the last 5 minutes
warnings_log = logging.getLogger("teal.warnings")


class ChecksFailed(OperationError):
    def __init__(self, checked: Target, results: Sequence[CheckResult]) -> None:
        failed = [r for r in results if not r.ok]
        lines = "\n".join(f"  - {r.check.method} {r.check.path}: {r.detail}" for r in failed)
        super().__init__(
            f"{len(failed)} of {len(results)} check(s) failed on {checked.environment}:\n{lines}",
            where=checked.environment,
            hint=f"see what it logged (teal logs{checked.flags}), fix it and deploy it again "
            f"(teal deploy{checked.flags})",
        )
        self.results = tuple(results)


# -- check -----------------------------------------------------------------


@dataclass(frozen=True)
class CheckReport:
    environment: str
    endpoint: str
    derived: bool  # no [[checks]] configured: GET routes without variables were used
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "endpoint": self.endpoint,
            "derived": self.derived,
            "ok": self.ok,
            "checks": [r.to_json() for r in self.results],
        }


def check_environment(target: Target, cloud: Cloud, table: RouteTable | None) -> CheckReport:
    environment = find_environment(cloud, target)
    endpoint = environment.endpoint(cloud)
    if endpoint is None:
        raise OperationError(
            f"{environment.name} has no API endpoint (status {environment.status})"
        )
    cloud.ensure_serving()
    checks, derived = checks_for(target.checks, table)
    return CheckReport(environment.name, endpoint, derived, tuple(run_checks(endpoint, checks)))


# -- switch and rollback ---------------------------------------------------


@dataclass(frozen=True)
class SwitchReport:
    domain: str
    url: str
    from_: str | None
    to: str
    checks: CheckReport | None
    checks_skipped: bool
    changed: bool
    watch: WatchReport | None = None  # what the watch after the switch saw, if one ran
    preview_ended: bool = False  # the switch went to the previewed environment
    warmed: WarmReport | None = None  # what warming the target did (None: not warmed)

    @property
    def switched_back(self) -> bool:
        return self.watch is not None and self.watch.verdict == "switched-back"

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "url": self.url,
            "from": self.from_,
            "to": self.to,
            "changed": self.changed,
            "checks_skipped": self.checks_skipped,
            "checks": self.checks.to_json() if self.checks else None,
            "preview_ended": self.preview_ended,
            **(
                self.warmed.to_json()
                if self.warmed is not None
                else {"warmed": None, "warm_seconds": None}
            ),
            **({"watch": self.watch.to_json()} if self.watch is not None else {}),
        }


def resolve_switch_target(base: Target, name: str) -> Target:
    """``2`` (an extra), ``base`` (no extra) or a full environment name → its Target."""
    if name == "base":
        return replace(base, extra=None)
    prefix = f"{base.app}-{base.env}"
    if name == prefix:
        return replace(base, extra=None)
    if name.startswith(prefix + "-"):
        return replace(base, extra=name.removeprefix(prefix + "-"))
    if name.startswith(base.app + "-"):
        raise UserError(
            f"{name} is not an environment of env {base.env!r}",
            where="--to",
            hint="switch within one env: pass --env to choose it",
        )
    return replace(base, extra=name)


@dataclass(frozen=True)
class _Switching:
    """What every switch of one command shares: where, how, and who is told."""

    cloud: Cloud
    spec: DomainSpec
    app: str
    skip_checks: bool
    table: RouteTable | None
    progress: Progress
    warm: bool = True  # warm the target's functions before the mapping moves (teal.ops.warm)


def switch(
    base: Target,
    to_name: str,
    cloud: Cloud,
    *,
    skip_checks: bool,
    user: str,
    progress: Progress,
    table: RouteTable | None = None,
    action: Action = "switch",
    watch: WatchLimits | None = None,
    live: Progress = quiet,
    warm: bool = True,
) -> SwitchReport:
    """Point the domain at another environment: warm it, checks, one atomic update, verify.

    With ``watch``, then watch the new environment's traffic (``live`` hears the
    figures) and, on a breach, switch back the way :func:`rollback` does.
    """
    spec = domain_of(base)
    goal = resolve_switch_target(base, to_name)
    if watch is not None:
        check_watch_length(watch, cloud.traffic_timing, cloud.name)
    how = _Switching(cloud, spec, base.app, skip_checks, table, progress, warm)
    operation = Operation(cloud, goal, action, user, progress)
    with operation.lock(domain_lock_key(spec)):
        if watch is not None:
            _refuse_watch_without_way_back(how, goal)
        report, switched_at = _switch_locked(how, operation, goal)
        if watch is None or not report.changed:
            return report
        return _watched(how, operation, report, watch, switched_at=switched_at, live=live)


def _switch_locked(
    how: _Switching, operation: Operation, goal: Target, reason: Mapping[str, Any] | None = None
) -> tuple[SwitchReport, float]:
    """The switch itself, under the domain's lock; the report, and when it took effect."""
    cloud, spec, progress = how.cloud, how.spec, how.progress
    environment = switchable(cloud, goal)
    state = our_domain(cloud, how.app, spec)
    if state.live == environment.name:
        progress(f"{spec.name} already serves {environment.name}")
        report = SwitchReport(
            spec.name, state.url, state.live, environment.name, None, how.skip_checks, False
        )
        return report, time.time()
    warmed = _warm_target(how, goal, state) if how.warm else None
    checks = None if how.skip_checks else _run_switch_checks(goal, cloud, how.table, progress)
    assert environment.api_id is not None and environment.stage is not None
    details = {"domain": spec.name, "checks_skipped": how.skip_checks, **(reason or {})}
    with operation.recorded(state.live, environment.name, details):
        crash_point("switch:recorded")
        point_domain(cloud, state, environment.api_id, environment.stage)
        switched_at = time.time()  # the watch counts from here (seconds since the epoch)
        crash_point("switch:pointed")
        progress(f"{spec.name} now points at {environment.name}; verifying through {state.url}")
        check = _verification(goal, how.table, how.skip_checks)
        _verify_or_undo(cloud, state, check, goal, progress)
    ended = _end_preview_of(how, environment, operation.user)
    report = SwitchReport(
        spec.name, state.url, state.live, environment.name, checks, how.skip_checks, True
    )
    return replace(report, preview_ended=ended, warmed=warmed), switched_at


def _warm_target(how: _Switching, goal: Target, state: DomainState) -> WarmReport:
    """Ready the target's functions to what the live environment has been using, before
    any request reaches them (a failure stops the switch: the domain stays as it is)."""
    target = how.cloud.describe_stack(goal.environment)
    live = how.cloud.describe_stack(state.live) if state.live else None
    return warm_environment(
        how.cloud,
        goal,
        target.template if target else None,
        live.template if live else None,
        how.progress,
    )


def _end_preview_of(how: _Switching, environment: Environment, user: str) -> bool:
    """A switch to the previewed environment ends its preview: every request reaches it
    now, so the header has nothing left to do (recorded as a ``preview`` entry)."""
    try:
        found = find_preview(how.cloud, how.app, how.spec)
        if found is None or found.environment != environment.name:
            return False
        how.cloud.delete_routing_rule(how.spec.name, found.rule.id)
    except OperationError as error:  # the switch is done: this must not undo it
        warnings_log.warning("the preview of %s was left as it is: %s", environment.name, error)
        return False
    how.progress(f"ended the preview of {environment.name}: {how.spec.name} serves it to all")
    entry = HistoryEntry(
        time=now(),
        user=user,
        action="preview",
        environment=environment.name,
        from_=environment.name,
        to=None,
        details={"domain": how.spec.name, "header": found.header, "ended_by": "switch"},
    )
    how.cloud.record_history(how.app, entry)
    return True


def _refuse_watch_without_way_back(how: _Switching, goal: Target) -> None:
    """A watched switch must have an environment to switch back to (exit 2 if not)."""
    state = read_domain(how.cloud, how.app, how.spec)
    if state.live is None:
        raise UserError(
            f"{how.spec.name} serves no environment of {how.app} now: a watch would have "
            "nothing to switch back to",
            where=how.spec.name,
            hint=f"switch without --watch (teal switch --to {goal.extra or 'base'} --no-watch)",
        )


def _watched(
    how: _Switching,
    operation: Operation,
    report: SwitchReport,
    limits: WatchLimits,
    *,
    switched_at: float,
    live: Progress,
) -> SwitchReport:
    """Watch the switch; on a breach switch back as rollback does, still under the lock."""
    cloud, progress = how.cloud, how.progress
    environment = switchable(cloud, resolve_switch_target(operation.target, report.to))
    assert environment.api_id is not None and environment.stage is not None
    stage = StageRef(environment.api_id, environment.name, environment.stage)
    progress(
        f"watching {report.to} for {limits.seconds} s ({limits.describe()}); Ctrl-C stops "
        "watching and keeps the switch"
    )
    guard = _guard(
        how, operation.target, report, limits, switched_at=switched_at, watched=environment
    )
    operation.amend({"watch": guard.to_json()})
    _arm(cloud, how.spec, guard)
    crash_point("switch:watching")
    try:
        result = watch_traffic(cloud, stage, limits, since=switched_at, live=live)
    finally:  # before a switch back: the alarms would race this command to it
        _disarm(cloud, guard)
    if result.breach is None:
        verdict: Verdict = "interrupted" if result.interrupted else "held"
        held = WatchReport(result, limits, verdict)
        operation.amend({"watch": held.to_json()})
        return replace(report, watch=held)
    assert report.from_ is not None  # a watch is refused without a way back
    progress(f"{result.breach}: switching {how.spec.name} back to {report.from_}")
    back = Operation(
        cloud,
        resolve_switch_target(operation.target, report.from_),
        "switched-back",
        operation.user,
        progress,
    )
    watched = WatchReport(result, limits, "switched-back")
    try:  # no warming: the environment served the domain moments ago, and time counts
        _switch_locked(replace(how, warm=False), back, back.target, {"watch": watched.to_json()})
    except TealError as failed:
        kept = WatchReport(result, limits, "held", note=f"switching back failed: {failed.what}")
        operation.amend({"watch": kept.to_json()})
        raise OperationError(
            f"the watch of {report.to} saw {result.breach}, but switching back to "
            f"{report.from_} failed ({failed.what}); {how.spec.name} still serves {report.to}",
            where=how.spec.name,
            hint="fix the previous environment, then teal rollback, or deploy a fix",
        ) from failed
    operation.amend({"watch": watched.to_json()})
    if report.preview_ended:  # the preview went with the switch; the switch back is no undo
        progress(
            f"the preview of {report.to} that the switch ended stays ended: "
            f"teal preview --to {report.to} sets it again"
        )
    return replace(report, watch=watched)


def _arm(cloud: Cloud, spec: DomainSpec, guard: WatchGuard) -> None:
    """Guard the watch beyond this command; a guard that fails leaves the watch to it."""
    try:
        cloud.guard_watch(spec, guard)
    except TealError as failed:
        warnings_log.warning(
            "only this command judges the watch (keep it running): %s", failed.what
        )


def _disarm(cloud: Cloud, guard: WatchGuard) -> None:
    try:
        cloud.unguard_watch(guard)
    except TealError as failed:
        warnings_log.warning("the watch's alarms were left in place: %s", failed.what)


def _guard(
    how: _Switching,
    goal: Target,
    report: SwitchReport,
    limits: WatchLimits,
    *,
    switched_at: float,
    watched: Environment,
) -> WatchGuard:
    """The watch as the cloud keeps it, so that a judge outlives this command (locally the
    gateway judges it once this process is gone; see teal.cloud.local.gateway.watch_judge)."""
    assert report.from_ is not None  # a watch is refused without a way back
    back = find_environment(how.cloud, resolve_switch_target(goal, report.from_))
    assert watched.api_id and watched.stage and back.api_id and back.stage
    pid, started = this_process()
    return WatchGuard(
        domain=how.spec.name,
        base_path=how.spec.base_path,
        watched=WatchedStage(watched.name, watched.api_id, watched.stage),
        back_to=WatchedStage(back.name, back.api_id, back.stage),
        since=switched_at,
        limits=limits,
        host=socket.gethostname(),
        pid=pid,
        process_started=started,
        lock_key=domain_lock_key(how.spec),
    )


def domain_of(target: Target) -> DomainSpec:
    if target.domain is None:
        raise UserError(
            "no custom domain is configured",
            where=str(target.project_dir / "teal.toml"),
            hint='add a [domain] table with name = "api.example.com"',
        )
    return target.domain


def our_domain(cloud: Cloud, app: str, spec: DomainSpec) -> DomainState:
    """The domain's state, created if missing; refused when it serves another app."""
    state = read_domain(cloud, app, spec)
    if state.info is None:
        cloud.ensure_domain(spec, {APP_TAG: app})
        state = read_domain(cloud, app, spec)
    if not state.may_repoint:
        assert state.mapping is not None
        raise OperationError(
            f"{spec.name} points at API {state.mapping.api_id}, which is not an environment "
            f"of {app}: teal will not re-point it",
            where=spec.name,
        )
    return state


def switchable(cloud: Cloud, goal: Target) -> Environment:
    environment = find_environment(cloud, goal)
    stack = cloud.describe_stack(goal.environment)
    if stack is None or not stack.is_stable or environment.api_id is None:
        raise OperationError(
            f"{environment.name} is {environment.status}, not in a complete state: "
            "it cannot serve the domain",
            where=environment.name,
            hint="deploy it again until it is CREATE_COMPLETE or UPDATE_COMPLETE",
        )
    return environment


def _run_switch_checks(
    goal: Target, cloud: Cloud, table: RouteTable | None, progress: Progress
) -> CheckReport:
    report = check_environment(goal, cloud, table)
    for result in report.results:
        verdict = "ok" if result.ok else "FAILED"
        progress(f"check {result.check.method} {result.check.path}: {verdict} ({result.detail})")
    if not report.ok:
        raise ChecksFailed(goal, report.results)
    return report


def _verification(goal: Target, table: RouteTable | None, skip_checks: bool) -> Check | None:
    """The request that proves the domain reaches the target: the first check, or
    (checks skipped) None, meaning any HTTP answer will do."""
    return None if skip_checks else health_check(goal.checks, table)


def _verify_or_undo(
    cloud: Cloud, before: DomainState, check: Check | None, goal: Target, progress: Progress
) -> None:
    """Ask the domain itself until the target answers; else put the previous mapping back."""
    result = verify_once(before.url, check, goal.environment)
    for _ in range(VERIFY_ATTEMPTS):
        if result.ok:
            return
        time.sleep(0.5)
        result = verify_once(before.url, check, goal.environment)
    if before.mapping is None:
        cloud.delete_mapping(before.spec.name, before.spec.base_path)
    else:
        cloud.update_mapping(before.mapping)
        progress(f"switched back to API {before.mapping.api_id}")
    raise OperationError(
        f"the domain did not answer from {goal.environment} after the switch "
        f"({result.url}: {result.detail}); the previous mapping is back in place",
        where=before.spec.name,
    )


def verify_once(
    url: str, check: Check | None, environment: str, headers: Mapping[str, str] | None = None
) -> CheckResult:
    """One request through the domain (with ``headers``: a preview's header); a response
    stamped by another environment fails."""
    answered = run_check(url, check or Check(path="/", status=200), headers=headers)
    if check is None:
        answered = replace(answered, ok=answered.status is not None)
    if answered.served_by not in (None, environment):
        return replace(answered, ok=False, detail=f"answered by {answered.served_by}")
    return answered


def rollback(
    base: Target,
    cloud: Cloud,
    *,
    skip_checks: bool,
    user: str,
    progress: Progress,
    table: RouteTable | None = None,
    warm: bool = True,
) -> SwitchReport:
    """Switch the domain back to the environment it served before the last switch
    (warmed first, as a switch's target: its environments may have gone since).

    The history is read under the domain's lock, after any interrupted move is settled
    against the mapping (:mod:`teal.ops.settle`): a switch or rollback killed half-way
    counts for what it did, not for what it meant to do.
    """
    spec = domain_of(base)
    how = _Switching(cloud, spec, base.app, skip_checks, table, progress, warm)
    operation = Operation(cloud, base, "rollback", user, progress)
    with operation.lock(domain_lock_key(spec)):
        settle_interrupted(cloud, base.app, spec)
        last = last_domain_move(cloud.read_history(base.app), spec.name)
        goal_name = rollback_target(last)
        if goal_name is None:
            raise _no_way_back(spec.name, last)
        goal = resolve_switch_target(base, goal_name)
        if cloud.describe_stack(goal.environment) is None:
            raise OperationError(
                f"{spec.name} served {goal_name} before the last switch, but {goal_name} "
                "no longer exists",
                where=spec.name,
                hint="deploy it again, or switch to another environment with teal switch --to",
            )
        operation.target = goal
        report, _ = _switch_locked(how, operation, goal)
        return report


def _no_way_back(domain: str, last: HistoryEntry | None) -> OperationError:
    """Why the domain has nowhere to roll back to (see :func:`rollback_target`)."""
    if last is None or (last.action == "switch" and last.from_ is None):
        return OperationError(
            f"no earlier switch of {domain} to go back from",
            where=domain,
            hint="use teal switch --to TARGET",
        )
    when = last.time.isoformat(timespec="seconds")
    if last.action == "switched-back":
        return OperationError(
            f"the last switch of {domain} was undone already: a watch found {last.from_} "
            f"failing and switched back to {last.to} ({when}); a rollback now would serve "
            f"{last.from_} again",
            where=domain,
            hint=f"to serve it anyway once fixed: teal switch --to {last.from_}",
        )
    if last.action == "rollback":
        return OperationError(
            f"nothing left to roll back on {domain}: the last switch was rolled back already "
            f"({last.from_} -> {last.to}, {when}); a rollback now would serve {last.from_} "
            "again",
            where=domain,
            hint=f"to serve it again on purpose: teal switch --to {last.from_}",
        )
    seen = last.details.get("settled", "its effect is not known")
    return OperationError(
        f"the last {last.action} of {domain} ({last.from_} -> {last.to}, {when}) was "
        f"interrupted and {seen}",
        where=domain,
        hint="point the domain where it should be with teal switch --to TARGET",
    )


# -- delete ----------------------------------------------------------------


def delete_environment(
    target: Target,
    cloud: Cloud,
    *,
    force: bool,
    user: str,
    progress: Progress,
    on_event: EventSink,
) -> Environment:
    """Delete an environment's stack (and its unused artifacts); refuse the live one.

    With ``--force`` a live environment goes too, and so does the domain's
    mapping to it, so the domain is free for the next deploy or switch.
    """
    environment = find_environment(cloud, target)
    operation = Operation(cloud, target, "delete", user, progress)
    with operation.lock(target.environment), _domain_lock(operation, target):
        state = read_domain(cloud, target.app, target.domain) if target.domain else None
        live = state is not None and state.live == environment.name
        if live and not force:
            assert state is not None
            raise OperationError(
                f"{environment.name} is live: {state.spec.name} points at it",
                where=environment.name,
                hint="switch the domain to another environment first (teal switch --to ...), "
                "or pass --force",
            )
        previewed = _preview_of(cloud, target, environment)
        if previewed is not None and not force:
            assert target.domain is not None
            raise OperationError(
                f"{environment.name} is previewed: {target.domain.name} sends the requests "
                f"that carry {previewed.header} to it",
                where=environment.name,
                hint="end the preview first (teal preview --off), or pass --force",
            )
        forced = live or previewed is not None
        with operation.recorded(environment.name, None, {"forced": forced}):
            if live and state is not None:
                cloud.delete_mapping(state.spec.name, state.spec.base_path)
                progress(f"removed the mapping of {state.spec.name} (--force)")
                crash_point("delete:unmapped")
            if previewed is not None and target.domain is not None:
                cloud.delete_routing_rule(target.domain.name, previewed.rule.id)
                progress(f"ended the preview of {environment.name} (--force)")
            _delete_stack(cloud, target.app, environment.name, progress, on_event)
    return environment


def _preview_of(cloud: Cloud, target: Target, environment: Environment) -> Preview | None:
    """The domain's preview, when it is of ``environment``."""
    if target.domain is None:
        return None
    found = find_preview(cloud, target.app, target.domain)
    return found if found is not None and found.environment == environment.name else None


def _delete_stack(
    cloud: Cloud, app: str, name: str, progress: Progress, on_event: EventSink
) -> None:
    """Delete the stack (after the guard: no API a domain maps goes) and unused artifacts."""
    stack = cloud.describe_stack(name)
    if stack is None:
        return
    refuse_removing_mapped_apis(cloud, name, StackApis(stack.template, stack.outputs), None)
    progress(f"deleting {name}")
    unused = _artifacts_only_used_by(cloud, stack)
    cloud.delete_stack(name, on_event)
    crash_point("delete:deleted")
    for key in sorted(unused):
        cloud.delete_artifact(key)
    if unused:
        progress(f"removed {len(unused)} artifact(s) no other environment uses")


def _domain_lock(operation: Operation, target: Target) -> AbstractContextManager[object]:
    """The domain's lock too, so that no switch lands between the live check and the delete."""
    if target.domain is None:
        return nullcontext()
    return operation.lock(domain_lock_key(target.domain))


def _artifacts_only_used_by(cloud: Cloud, stack: DeployedStack) -> set[str]:
    """Artifacts of the stack that no other environment, of any app, uses.

    Code zips are content-addressed and carry no teal.toml, so two environments
    with the same code share one zip, even two apps' (copies of one project,
    say): it stays while either lives.
    """
    mine = artifact_keys(stack.template)
    for other in cloud.list_stacks({}):
        if other.name != stack.name and APP_TAG in other.tags and mine:
            mine -= artifact_keys(other.template)
    return mine


# -- status ----------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentRow:
    environment: Environment
    endpoint: str | None
    live: bool
    code_sha256: str | None
    api_key: ApiKeyInfo | None = None  # when a route requires an API key
    traffic: Traffic | None = None  # None: no stage yet, or the numbers could not be read
    # each function's alias: its version and a canary's (by the app's function name)
    versions: Mapping[str, AliasState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        e = self.environment
        return {
            "name": e.name,
            "env": e.env,
            "extra": e.extra,
            "status": e.status,
            "endpoint": self.endpoint,
            "live": self.live,
            "updated_at": e.updated_at.isoformat(timespec="seconds") if e.updated_at else None,
            "code_sha256": self.code_sha256,
            "api_key": self.api_key.to_json() if self.api_key is not None else None,
            "traffic": self.traffic.to_json() if self.traffic else None,
            "versions": {name: state.to_json() for name, state in sorted(self.versions.items())},
        }


@dataclass(frozen=True)
class DomainRow:
    name: str
    url: str | None
    live: str | None
    previous: str | None
    preview: Preview | None = None
    # every base path of the domain and whom it serves: this app's and the other apps'
    mappings: tuple[MappingRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "live": self.live,
            "previous": self.previous,
            "preview": self.preview.to_json() if self.preview else None,
            "mappings": [m.to_json() for m in self.mappings],
        }


@dataclass(frozen=True)
class LockRow:
    held: HeldLock
    stale: str | None  # why its holder no longer holds it, or None while it may

    def to_json(self) -> dict[str, Any]:
        return {"lock": self.held.key, "holder": self.held.owner.describe(), "stale": self.stale}


@dataclass(frozen=True)
class StatusReport:
    app: str
    cloud: str
    environments: tuple[EnvironmentRow, ...]
    domains: tuple[DomainRow, ...]
    history: tuple[HistoryEntry, ...]
    locks: tuple[LockRow, ...]
    # what serves the domains, where teal runs it (the local gateway); None on AWS
    gateway: ServingHealth | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "cloud": self.cloud,
            "environments": [row.to_json() for row in self.environments],
            "domains": [row.to_json() for row in self.domains],
            "history": [entry.to_json() for entry in self.history],
            "locks": [row.to_json() for row in self.locks],
            "gateway": self.gateway.to_json() if self.gateway is not None else None,
        }


def status(target: Target, cloud: Cloud, domains: Sequence[DomainSpec]) -> StatusReport:
    """Every environment of the app, every domain, the history, the locks held, and
    whether what serves the domains runs (the local gateway)."""
    history = cloud.read_history(target.app)
    domain_rows = tuple(_domain_row(cloud, target.app, spec, history) for spec in domains)
    live_names = {row.live for row in domain_rows if row.live}
    code = _last_code_by_environment(history)
    found = environments(cloud, target.app)
    traffic = _traffic(cloud, found)
    rows = tuple(
        EnvironmentRow(
            e,
            e.endpoint(cloud),
            e.name in live_names,
            code.get(e.name),
            cloud.api_key(e.api_key_id) if e.api_key_id else None,
            traffic.get(e.name),
            _aliases(cloud, e),
        )
        for e in found
    )
    keys = [target.environment, *(domain_lock_key(spec) for spec in domains)]
    when = now()
    locks = tuple(
        LockRow(held, stale_reason(held.owner, when))
        for held in locks_of(cloud, target.app, keys, exact=False)
    )
    return StatusReport(
        target.app,
        target.cloud,
        rows,
        domain_rows,
        tuple(_as_seen(entry, locks) for entry in history),
        locks,
        cloud.serving_health(),
    )


def _aliases(cloud: Cloud, environment: Environment) -> dict[str, AliasState]:
    """Where each function's alias points (a view: unreadable, status says so)."""
    names = environment.functions
    try:
        found = cloud.function_aliases(sorted(names.values()), ALIAS_NAME)
    except OperationError as error:
        warnings_log.warning("function versions unavailable: %s", error.what)
        return {}
    return {function: found[name] for function, name in names.items() if name in found}


def _traffic(cloud: Cloud, found: Sequence[Environment]) -> dict[str, Traffic]:
    """Each environment's requests of the last 5 minutes, in one read for all of them.

    The numbers are a view: when they cannot be read (CloudWatch refused, say),
    status says so and shows the rest.
    """
    served = [e for e in found if e.api_id and e.stage]
    stages = [StageRef(str(e.api_id), e.name, str(e.stage)) for e in served]
    if not stages:
        return {}
    try:
        numbers = cloud.traffic(stages, TRAFFIC_WINDOW_S)
    except OperationError as error:
        warnings_log.warning("traffic numbers unavailable: %s", error.what)
        return {}
    return {e.name: t for e, t in zip(served, numbers, strict=True)}


def _domain_row(
    cloud: Cloud, app: str, spec: DomainSpec, history: Sequence[HistoryEntry]
) -> DomainRow:
    state = read_domain(cloud, app, spec)
    return DomainRow(
        spec.name,
        state.url if state.info else None,
        state.live,
        rollback_target(last_domain_move(history, spec.name)),
        _shown_preview(cloud, app, spec) if state.info else None,
        _shown_mappings(cloud, state.info) if state.info else (),
    )


def _shown_mappings(cloud: Cloud, info: DomainInfo) -> tuple[MappingRow, ...]:
    """Who serves what on the domain, for status: a view, so a failed read is said."""
    try:
        return view_domain(cloud, info).mappings
    except OperationError as error:
        warnings_log.warning("the mappings of %s could not be read: %s", info.name, error.what)
        return ()


def _shown_preview(cloud: Cloud, app: str, spec: DomainSpec) -> Preview | None:
    """The domain's preview, for status: a view, so a failed read is said and passed over."""
    try:
        return find_preview(cloud, app, spec)
    except OperationError as error:
        warnings_log.warning("the preview of %s could not be read: %s", spec.name, error.what)
        return None


def _as_seen(entry: HistoryEntry, locks: Sequence[LockRow]) -> HistoryEntry:
    """A ``started`` entry whose operation holds no live lock was interrupted."""
    if entry.state != "started":
        return entry
    running = any(row.held.owner.operation_id == entry.id and row.stale is None for row in locks)
    return entry if running else entry.ended("interrupted")


def _last_code_by_environment(history: Sequence[HistoryEntry]) -> dict[str, str]:
    code: dict[str, str] = {}
    for entry in history:
        sha = entry.details.get("code_sha256")
        if entry.action == "deploy" and isinstance(sha, str):
            code[entry.environment] = sha
    return code
