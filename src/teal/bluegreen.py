"""Manual blue-green: check, switch, rollback, delete and status of environments.

Deploy a parallel copy (``--extra 2``), test it (``check``), point the custom
domain at it (``switch``), go back in one command (``rollback``), remove the
old copy (``delete``). Everything goes through the Cloud seam; a switch is
one atomic mapping update, verified through the domain and undone by itself
when the domain does not answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from teal.checks import CheckResult, checks_for, run_check, run_checks
from teal.cloud.base import BasePathMapping, Cloud, DeployedStack, EventSink, HistoryEntry
from teal.config import Check, Target
from teal.errors import OperationError, UserError
from teal.oplog import OperationLock, domain_lock_key, record
from teal.routes import RouteTable

REST_API_OUTPUT = "RestApiId"
STAGE_OUTPUT = "StageName"
VERIFY_ATTEMPTS = 10

Progress = Callable[[str], None]


class ChecksFailed(OperationError):
    def __init__(self, environment: str, results: Sequence[CheckResult]) -> None:
        failed = [r for r in results if not r.ok]
        lines = "\n".join(f"  - {r.check.method} {r.check.path}: {r.detail}" for r in failed)
        super().__init__(
            f"{len(failed)} of {len(results)} check(s) failed on {environment}:\n{lines}",
            where=environment,
            hint="fix the environment and deploy it again, or look at `teal logs`",
        )
        self.results = tuple(results)


@dataclass(frozen=True)
class Environment:
    """A deployed environment of the app, as its stack tells."""

    name: str
    env: str
    extra: str | None
    status: str
    api_id: str | None
    stage: str | None
    updated_at: datetime | None

    def endpoint(self, cloud: Cloud) -> str | None:
        return cloud.endpoint_url(self.api_id, self.stage) if self.api_id and self.stage else None


def environment_from_stack(stack: DeployedStack) -> Environment:
    return Environment(
        name=stack.name,
        env=stack.tags.get("teal:env", ""),
        extra=stack.tags.get("teal:extra") or None,
        status=stack.status,
        api_id=stack.outputs.get(REST_API_OUTPUT),
        stage=stack.outputs.get(STAGE_OUTPUT),
        updated_at=stack.updated_at,
    )


def environments(cloud: Cloud, app: str) -> list[Environment]:
    stacks = cloud.list_stacks({"teal:app": app})
    return sorted((environment_from_stack(s) for s in stacks), key=lambda e: e.name)


def environment_of_api(cloud: Cloud, app: str, api_id: str) -> str | None:
    """The environment of ``app`` whose API is ``api_id`` (None: another app's, or gone)."""
    return next((e.name for e in environments(cloud, app) if e.api_id == api_id), None)


def find_environment(cloud: Cloud, target: Target) -> Environment:
    stack = cloud.describe_stack(target.stack_name)
    if stack is None:
        raise UserError(
            f"environment {target.environment} does not exist in the {target.cloud} cloud",
            hint=f"deploy it first: teal deploy{_env_flags(target)}",
        )
    if stack.tags.get("teal:app") != target.app:
        raise UserError(f"stack {stack.name} does not belong to app {target.app}")
    return environment_from_stack(stack)


def _env_flags(target: Target) -> str:
    flags = f" --env {target.env}" if target.env != "dev" else ""
    return flags + (f" --extra {target.extra}" if target.extra else "")


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
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "url": self.url,
            "from": self.from_,
            "to": self.to,
            "changed": self.changed,
            "checks_skipped": self.checks is None,
            "checks": self.checks.to_json() if self.checks else None,
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
            hint="switch within one env: pass --env to choose it",
        )
    return replace(base, extra=name)


def switch(
    base: Target,
    to_name: str,
    cloud: Cloud,
    *,
    skip_checks: bool,
    user: str,
    progress: Progress,
    table: RouteTable | None = None,
    action: str = "switch",
) -> SwitchReport:
    """Point the domain at another environment: checks, one atomic update, verify."""
    spec = _domain_of(base)
    goal = resolve_switch_target(base, to_name)
    with OperationLock(cloud, domain_lock_key(spec.name), action, user):
        environment = _switchable(cloud, goal)
        mapping = cloud.get_mapping(spec.name, spec.base_path)
        from_env = environment_of_api(cloud, base.app, mapping.api_id) if mapping else None
        if mapping is not None and from_env is None:
            raise OperationError(
                f"{spec.name} points at API {mapping.api_id}, which is not an environment of "
                f"{base.app}: teal will not re-point it",
                where=spec.name,
            )
        domain = cloud.ensure_domain(spec, {"teal:app": base.app})
        if mapping is not None and mapping.api_id == environment.api_id:
            progress(f"{spec.name} already serves {environment.name}")
            return SwitchReport(spec.name, domain.url, from_env, environment.name, None, False)
        checks = None if skip_checks else _run_switch_checks(goal, cloud, table, progress)
        assert environment.api_id is not None and environment.stage is not None
        new = BasePathMapping(spec.name, spec.base_path, environment.api_id, environment.stage)
        if mapping is None:
            cloud.create_mapping(new)
            cloud.ensure_serving()  # a new domain's listener is up before we verify
        else:
            cloud.update_mapping(new)
        progress(f"{spec.name} now points at {environment.name}; verifying through {domain.url}")
        _verify_or_undo(
            cloud,
            domain.url,
            _verification(goal, table, skip_checks),
            previous=mapping or new,
            was_new=mapping is None,
            progress=progress,
        )
        record(
            cloud,
            goal,
            action,  # type: ignore[arg-type]
            user,
            {
                "from": from_env,
                "to": environment.name,
                "domain": spec.name,
                "checks_skipped": skip_checks,
            },
        )
        return SwitchReport(spec.name, domain.url, from_env, environment.name, checks, True)


def _domain_of(target: Target) -> Any:
    if target.domain is None:
        raise UserError(
            "no custom domain is configured",
            where=str(target.project_dir / "teal.toml"),
            hint='add a [domain] table with name = "api.example.com"',
        )
    return target.domain


def _switchable(cloud: Cloud, goal: Target) -> Environment:
    environment = find_environment(cloud, goal)
    stack = cloud.describe_stack(goal.stack_name)
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
        progress(
            f"check {result.check.method} {result.check.path}: "
            f"{'ok' if result.ok else 'FAILED'} ({result.detail})"
        )
    if not report.ok:
        raise ChecksFailed(report.environment, report.results)
    return report


def _verification(goal: Target, table: RouteTable | None, skip_checks: bool) -> Check | None:
    """The request that proves the domain reaches the target: the first check, or
    (checks skipped) None, meaning any HTTP answer will do."""
    if skip_checks:
        return None
    checks, _ = checks_for(goal.checks, table)
    return checks[0] if checks else Check(path="/", status=200)


def _verify_or_undo(
    cloud: Cloud,
    url: str,
    check: Check | None,
    *,
    previous: BasePathMapping,
    was_new: bool,
    progress: Progress,
) -> None:
    """Ask the domain itself; on no answer, put the previous mapping back (or remove a new one)."""
    result = _verify_once(url, check)
    for _ in range(VERIFY_ATTEMPTS):
        if result.ok:
            return
        time.sleep(0.5)
        result = _verify_once(url, check)
    if result.ok:
        return
    if was_new:
        cloud.delete_mapping(previous.domain, previous.base_path)
    else:
        cloud.update_mapping(previous)
        progress(f"switched back to API {previous.api_id}")
    raise OperationError(
        f"the domain did not answer after the switch ({result.url}: {result.detail}); "
        "the previous mapping is back in place",
        where=url,
    )


def _verify_once(url: str, check: Check | None) -> CheckResult:
    if check is not None:
        return run_check(url, check)
    answered = run_check(url, Check(path="/", status=200))
    return replace(answered, ok=answered.status is not None)


def rollback(
    base: Target,
    cloud: Cloud,
    *,
    skip_checks: bool,
    user: str,
    progress: Progress,
    table: RouteTable | None = None,
) -> SwitchReport:
    """Switch the domain back to the environment it served before the last switch."""
    spec = _domain_of(base)
    last = _last_switch(cloud.read_history(base.app), spec.name)
    if last is None or not last.from_:
        raise OperationError(
            f"no earlier switch of {spec.name} to go back from",
            hint="use teal switch --to TARGET",
        )
    if cloud.describe_stack(last.from_) is None:
        raise OperationError(
            f"{spec.name} served {last.from_} before the last switch, but {last.from_} no "
            "longer exists",
            hint="deploy it again, or switch to another environment with teal switch --to",
        )
    return switch(
        base,
        last.from_,
        cloud,
        skip_checks=skip_checks,
        user=user,
        progress=progress,
        table=table,
        action="rollback",
    )


def _last_switch(history: Sequence[HistoryEntry], domain: str) -> HistoryEntry | None:
    return next(
        (
            e
            for e in reversed(history)
            if e.action in ("switch", "rollback") and e.details.get("domain") == domain
        ),
        None,
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
    """Delete an environment's stack; refuse the live one unless forced."""
    environment = find_environment(cloud, target)
    live_on = _domains_served(cloud, target, environment)
    if live_on and not force:
        raise OperationError(
            f"{environment.name} is live: {', '.join(live_on)} points at it",
            where=environment.name,
            hint="switch the domain to another environment first (teal switch --to ...), "
            "or pass --force",
        )
    with OperationLock(cloud, target.environment, "delete", user):
        progress(f"deleting {environment.name}")
        cloud.delete_stack(environment.name, on_event)
        record(
            cloud,
            target,
            "delete",
            user,
            {"from": environment.name, "to": None, "forced": bool(live_on)},
        )
    return environment


def _domains_served(cloud: Cloud, target: Target, environment: Environment) -> list[str]:
    if target.domain is None or environment.api_id is None:
        return []
    mapping = cloud.get_mapping(target.domain.name, target.domain.base_path)
    return [target.domain.name] if mapping and mapping.api_id == environment.api_id else []


# -- status ----------------------------------------------------------------


def status(target: Target, cloud: Cloud, domains: Sequence[Any]) -> dict[str, Any]:
    """Every environment of the app, every domain and the history (JSON keys of the design)."""
    envs = environments(cloud, target.app)
    history = cloud.read_history(target.app)
    live_by_domain: dict[str, str | None] = {}
    domain_rows = []
    for spec in domains:
        mapping = cloud.get_mapping(spec.name, spec.base_path)
        live = next((e.name for e in envs if mapping and e.api_id == mapping.api_id), None)
        live_by_domain[spec.name] = live
        last = _last_switch(history, spec.name)
        info = cloud.get_domain(spec.name)
        domain_rows.append(
            {
                "name": spec.name,
                "url": info.url if info else None,
                "live": live,
                "previous": last.from_ if last else None,
            }
        )
    live_names = {v for v in live_by_domain.values() if v}
    code = _last_code_by_environment(history)
    return {
        "app": target.app,
        "cloud": target.cloud,
        "environments": [
            {
                "name": e.name,
                "env": e.env,
                "extra": e.extra,
                "status": e.status,
                "endpoint": e.endpoint(cloud),
                "live": e.name in live_names,
                "updated_at": e.updated_at.isoformat(timespec="seconds") if e.updated_at else None,
                "code_sha256": code.get(e.name),
            }
            for e in envs
        ],
        "domains": domain_rows,
        "history": [h.to_json() for h in history],
    }


def _last_code_by_environment(history: Sequence[HistoryEntry]) -> dict[str, str]:
    code: dict[str, str] = {}
    for entry in history:
        sha = entry.details.get("code_sha256")
        if entry.action == "deploy" and isinstance(sha, str):
            code[entry.environment] = sha
    return code
