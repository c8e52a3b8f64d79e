"""``teal preview``: the live domain sends the requests that carry a header elsewhere.

:func:`preview` gives the domain a preview rule (:mod:`teal.ops.environments`
describes it) after setting its routing mode to let rules go before the
mappings, asks through the domain, with the header, until the previewed
environment answers (removing the rule again if it never does), and only
then removes the rule of the previous preview, so a request with either
header always reaches someone. :func:`end_preview` removes the rule. Both
hold the domain's lock and leave a ``preview`` history entry, as switches do.
:func:`check_preview` runs the ``[[checks]]`` through the domain, with the
header, and fails a check that another environment answered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from teal.cloud.base import Cloud, RoutingRule
from teal.ops.bluegreen import (
    VERIFY_ATTEMPTS,
    CheckReport,
    domain_of,
    our_domain,
    resolve_switch_target,
    switchable,
    verify_once,
)
from teal.ops.checks import CheckResult, checks_for, health_check, run_checks
from teal.ops.crashpoints import crash_point
from teal.ops.environments import (
    PREVIEW_HEADER,
    DomainState,
    Preview,
    domain_lock_key,
    find_preview,
    find_previews,
    free_priority,
    header_value,
    is_preview_rule,
    preview_rule,
    read_domain,
)
from teal.ops.oplog import Operation
from teal.progress import Progress
from teal.project.config import Check, Target
from teal.runtime.errors import OperationError, UserError
from teal.runtime.routes import RouteTable


@dataclass(frozen=True)
class PreviewReport:
    """A domain's preview after ``teal preview``: who gets the header's requests."""

    domain: str
    url: str
    live: str | None
    preview: Preview | None
    previous: str | None  # the environment previewed before the command
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "url": self.url,
            "live": self.live,
            "preview": self.preview.to_json() if self.preview else None,
            "previous": self.previous,
            "changed": self.changed,
        }


def preview(
    base: Target,
    to_name: str,
    cloud: Cloud,
    *,
    user: str,
    progress: Progress,
    table: RouteTable | None = None,
) -> PreviewReport:
    """Send the domain's requests that carry ``teal-preview: <value>`` to ``to_name``."""
    spec = domain_of(base)
    goal = resolve_switch_target(base, to_name)
    operation = Operation(cloud, goal, "preview", user, progress)
    with operation.lock(domain_lock_key(spec)):
        environment = switchable(cloud, goal)
        state = our_domain(cloud, base.app, spec)
        if state.live == environment.name:
            raise UserError(
                f"{environment.name} is live on {spec.name}: every request reaches it already",
                where=spec.name,
                hint="preview another environment, or end the preview with teal preview --off",
            )
        current = find_preview(cloud, base.app, spec)
        previous = current.environment if current else None
        if current is not None and current.rule.api_id == environment.api_id:
            progress(f"{spec.name} already previews {environment.name} ({current.header})")
            return PreviewReport(spec.name, state.url, state.live, current, previous, False)
        assert environment.api_id is not None and environment.stage is not None
        value = header_value(goal)
        details = {"domain": spec.name, "header": f"{PREVIEW_HEADER}: {value}"}
        with operation.recorded(previous, environment.name, details):
            cloud.allow_routing_rules(spec.name)
            rules = cloud.list_routing_rules(spec.name)
            wanted = preview_rule(spec, environment.api_id, environment.stage, value, 0)
            rule = cloud.create_routing_rule(
                spec.name, replace(wanted, priority=free_priority(rules))
            )
            cloud.ensure_serving()
            crash_point("preview:ruled")
            progress(
                f"{spec.name} sends requests with {PREVIEW_HEADER}: {value} to {goal.environment}"
            )
            check = health_check(goal.checks, table)
            _verify_or_remove(cloud, state, rule, goal, check=check, value=value)
            # every earlier preview rule goes: one left by a replacement whose delete failed too
            for stale in (r for r in rules if is_preview_rule(r, spec)):
                cloud.delete_routing_rule(spec.name, stale.id)
            if current is not None:
                progress(f"ended the preview of {previous or current.rule.api_id}")
        found = Preview(environment.name, rule)
        return PreviewReport(spec.name, state.url, state.live, found, previous, True)


def _verify_or_remove(
    cloud: Cloud, state: DomainState, rule: RoutingRule, goal: Target, *, check: Check, value: str
) -> None:
    """Ask the domain, with the header, until the previewed environment answers; else
    remove the new rule again (the domain is as it was) and fail."""
    headers = {PREVIEW_HEADER: value}
    result = verify_once(state.url, check, goal.environment, headers)
    for _ in range(VERIFY_ATTEMPTS):
        if result.ok:
            return
        time.sleep(0.5)
        result = verify_once(state.url, check, goal.environment, headers)
    cloud.delete_routing_rule(state.spec.name, rule.id)
    raise OperationError(
        f"the domain did not answer from {goal.environment} with the header "
        f"{PREVIEW_HEADER}: {value} ({result.url}: {result.detail}); the preview was removed",
        where=state.spec.name,
        hint=f"check the environment with teal check{goal.flags}",
    )


def end_preview(base: Target, cloud: Cloud, *, user: str, progress: Progress) -> PreviewReport:
    """Remove the domain's preview: every request follows the mapping again."""
    spec = domain_of(base)
    operation = Operation(cloud, base, "preview", user, progress)
    with operation.lock(domain_lock_key(spec)):
        state = read_domain(cloud, base.app, spec)
        found = find_previews(cloud, base.app, spec)
        if not found:
            progress(f"{spec.name} has no preview")
            return PreviewReport(spec.name, state.url, state.live, None, None, False)
        current = found[0]
        if current.environment is not None:
            operation.target = resolve_switch_target(base, current.environment)
        details = {"domain": spec.name, "header": current.header}
        with operation.recorded(current.environment, None, details):
            for each in found:  # more than one only after a replacement's delete failed
                cloud.delete_routing_rule(spec.name, each.rule.id)
                progress(f"ended the preview of {each.environment or each.rule.api_id}")
            crash_point("preview:ended")
        return PreviewReport(spec.name, state.url, state.live, None, current.environment, True)


def check_preview(target: Target, cloud: Cloud, table: RouteTable | None) -> CheckReport:
    """The ``[[checks]]`` through the live domain, with the header of ``target``'s preview."""
    spec = domain_of(target)
    current = find_preview(cloud, target.app, spec)
    if current is None or current.environment != target.environment:
        raise UserError(
            f"{target.environment} is not previewed on {spec.name}"
            + (f" ({current.environment} is)" if current and current.environment else ""),
            where=spec.name,
            hint=f"preview it first: teal preview{target.env_flag} --to {target.extra or 'base'}",
        )
    cloud.ensure_serving()
    state = read_domain(cloud, target.app, spec)
    checks, derived = checks_for(target.checks, table)
    results = [
        _answered_by(result, target.environment)
        for result in run_checks(state.url, checks, {PREVIEW_HEADER: current.value})
    ]
    return CheckReport(target.environment, state.url, derived, tuple(results))


def _answered_by(result: CheckResult, environment: str) -> CheckResult:
    """A check that another environment answered fails: the header did not route."""
    if result.served_by in (None, environment):
        return result
    return replace(result, ok=False, detail=f"answered by {result.served_by}, not {environment}")
