"""Deploying one environment, with automated blue-green of its API.

The pipeline, run by :func:`deploy` under the environment's lock (``teal
plan`` runs steps 1-6 and prints the steps of 7):

1. **load**       the app module and config → the validated route table
2. **package**    the deterministic code zip (content-addressed)
3. **read**       the deployed stack and the domain's mapping, once
4. **synthesize** the template with the current RestApi logical id
5. **analyze**    simulate the update against API Gateway's rules → verdict;
                  when it would fail, synthesize again with the next logical id
6. **decide**     update in place, replace the API, continue a replacement
                  that stopped half-way, or refuse (policy and flags)
                  — steps 1-6 are :mod:`teal.ops.decision`
7. **apply**      upload what the cloud lacks, then run the apply steps
                  (:mod:`teal.ops.apply`); when the domain serves this environment
                  and the API is replaced: new API beside the old, re-point, cleanup
8. **domain**     map the domain on an environment's first deploy
9. **record**     the history entry, written ``started`` before step 7 and
                  rewritten ``done`` or ``failed`` at the end
10. **report**    what happened, for text or ``--json``

Everything goes through the :class:`~teal.cloud.base.Cloud` seam, so the
same rules run against the local cloud and AWS.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from teal.cloud.base import Cloud, EventSink, StackFailed
from teal.ops.apply import (
    Applied,
    Run,
    SwitchedBack,
    apply,
    endpoint,
    refuse_short_watch,
)
from teal.ops.canary import CanaryReport, CanaryRolledBack
from teal.ops.crashpoints import crash_point
from teal.ops.decision import (
    Decision,
    Prepared,
    ReplacePolicy,
    decide,
    prepare,
)
from teal.ops.domains import SHARED_STEP_WAIT_S
from teal.ops.environments import (
    Pointing,
    domain_lock_key,
    point_domain,
    read_domain,
    shared_domain_lock_key,
)
from teal.ops.oplog import Operation
from teal.ops.warm import WarmReport
from teal.plan.analysis import Verdict
from teal.progress import Progress, quiet
from teal.project.config import Target
from teal.rules.labels import APP_TAG
from teal.rules.watch_rules import WatchReport


@dataclass(frozen=True)
class DomainReport:
    name: str
    url: str
    live: str | None  # the environment the domain serves after this deploy

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "live": self.live}


@dataclass(frozen=True)
class DeployReport:
    target: Target
    decision: Decision
    status: str
    api_id: str | None
    endpoint: str | None
    previous_endpoint: str | None
    code_sha256: str
    domain: DomainReport | None
    verdict: Verdict
    seconds: float
    watch: WatchReport | None = None  # [deploy] watch after a replacement's re-point
    warmed: WarmReport | None = None  # warming the new functions before that re-point
    uploaded: Mapping[str, int] = field(default_factory=dict)  # artifact key -> bytes sent
    canary: CanaryReport | None = None  # --canary: the new versions' share, and its verdict

    @property
    def api_replaced(self) -> bool:
        return self.decision is Decision.REPLACE

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.target.environment,
            "environment": self.target.environment,
            "action": self.decision.value,
            "status": self.status,
            "api_id": self.api_id,
            "endpoint": self.endpoint,
            "api_replaced": self.api_replaced,
            "previous_endpoint": self.previous_endpoint,
            "domain": self.domain.to_json() if self.domain else None,
            "code_sha256": self.code_sha256,
            "reasons": [r.to_json() for r in self.verdict.reasons],
            "seconds": round(self.seconds, 3),
            **(
                self.warmed.to_json()
                if self.warmed is not None
                else {"warmed": None, "warm_seconds": None}
            ),
            "uploaded": dict(sorted(self.uploaded.items())),
            "uploaded_bytes": sum(self.uploaded.values()),
            **({"watch": self.watch.to_json()} if self.watch is not None else {}),
            **({"canary": self.canary.to_json()} if self.canary is not None else {}),
        }


def deploy(
    target: Target,
    cloud: Cloud,
    policy: ReplacePolicy,
    *,
    on_event: EventSink,
    progress: Progress,
    user: str,
    live: Progress = quiet,
    warm: bool = True,
) -> DeployReport:
    """Run the whole pipeline for one environment (see the module docstring); ``live``
    hears the figures of a watch after a replacement's re-point, which ``warm`` lets
    warm the new functions first (:mod:`teal.ops.warm`)."""
    started = time.monotonic()
    operation = Operation(cloud, target, "deploy", user, progress)
    run = Run(cloud, on_event, progress, operation, live, warm)
    with operation.lock(target.environment):
        crash_point("deploy:locked")
        prepared = prepare(target, cloud, progress)
        decision = decide(prepared, policy)
        refuse_short_watch(prepared, decision, cloud)
        progress(_announce(prepared, decision))
        cloud.ensure_serving()
        begun = {"decision": decision.value, "code_sha256": prepared.package.sha256}
        with operation.recorded(endpoint(cloud, _outputs(prepared)), None, begun):
            try:
                applied = apply(prepared, decision, run)
            except StackFailed as failed:
                operation.end("failed", _failure_details(prepared, decision, failed, cloud))
                raise
            except SwitchedBack as back:
                operation.end("failed", {"error": back.what, "watch": back.watch.to_json()})
                raise
            except CanaryRolledBack as back:
                operation.end("failed", {"error": back.what, "canary": back.report.to_json()})
                raise
            crash_point("deploy:applied")
            domain = _follow_domain(prepared, applied, run)
            report = DeployReport(
                target=target,
                decision=decision,
                status=applied.status,
                api_id=applied.api_id,
                endpoint=applied.endpoint,
                previous_endpoint=applied.previous_endpoint,
                code_sha256=prepared.package.sha256,
                domain=domain,
                verdict=prepared.verdict,
                seconds=time.monotonic() - started,
                watch=applied.watch,
                warmed=applied.warmed,
                uploaded=applied.uploaded,
                canary=applied.canary,
            )
            operation.end(
                "done",
                report_details(report),
                from_=report.previous_endpoint,
                to=report.endpoint,
            )
    # where it came from, for the cloud's console (which runs teal's commands there)
    cloud.record_project(target.environment, target.env, target.project_dir)
    return report


def _outputs(prepared: Prepared) -> Mapping[str, str] | None:
    return prepared.deployed.outputs if prepared.deployed else None


def _failure_details(
    prepared: Prepared, decision: Decision, failed: StackFailed, cloud: Cloud
) -> dict[str, Any]:
    first = failed.failures[0] if failed.failures else None
    return {
        "status": failed.status,
        "failed": True,
        "reason": f"{first.logical_id}: {first.reason}" if first else None,
        "code_sha256": prepared.package.sha256,
        "decision": decision.value,
    }


def report_details(report: DeployReport) -> dict[str, Any]:
    details = {
        "status": report.status,
        "api_replaced": report.api_replaced,
        "code_sha256": report.code_sha256,
        "decision": report.decision.value,
    }
    details |= {"watch": report.watch.to_json()} if report.watch is not None else {}
    return details | ({"canary": report.canary.to_json()} if report.canary is not None else {})


def _announce(prepared: Prepared, decision: Decision) -> str:
    name = prepared.target.environment
    match decision:
        case Decision.CREATE:
            return f"creating {name}"
        case Decision.NOOP:
            return f"{name} is up to date"
        case Decision.UPDATE:
            return f"updating {name} in place (the API and its endpoint stay)"
        case Decision.FORCE_UPDATE:
            return (
                f"updating {name} in place although it is predicted to fail "
                "(--force-update): expect a rollback"
            )
        case Decision.REPLACE:
            reasons = "; ".join(r.explanation for r in prepared.verdict.reasons)
            return f"replacing the API of {name} with a new one (new endpoint): {reasons}"


def _follow_domain(prepared: Prepared, applied: Applied, run: Run) -> DomainReport | None:
    """Step 8: map the domain on the base environment's first deploy; report who is live.

    Only a base environment (no extra) takes a domain that serves nothing (or an
    API that no longer exists); a live mapping is only ever moved by a switch, or
    by the replacement of the live environment's own API.
    """
    cloud, target, spec = run.cloud, prepared.target, prepared.target.domain
    if spec is None or applied.api_id is None:
        return None
    state = prepared.domain
    if state is None or applied.api_id != prepared.current_api_id:
        state = read_domain(cloud, target.app, spec)  # a new API: who is live may have moved
    if target.extra is None and state.pointing in (Pointing.NOTHING, Pointing.DANGLING):
        with run.operation.lock(domain_lock_key(spec)):
            crash_point("deploy:domain-locked")
            # the domain itself is the apps' in common: another app may be making it
            with run.operation.lock(shared_domain_lock_key(spec.name), wait_s=SHARED_STEP_WAIT_S):
                cloud.ensure_domain(spec, {APP_TAG: target.app})
            state = read_domain(cloud, target.app, spec)
            if state.pointing in (Pointing.NOTHING, Pointing.DANGLING):
                point_domain(cloud, state, applied.api_id, target.stage)
                run.progress(f"mapped {spec.name} to {target.environment}")
                state = read_domain(cloud, target.app, spec)
    return DomainReport(spec.name, state.url, state.live)
