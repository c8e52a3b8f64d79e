"""Deploying one environment, with automated blue-green of its API.

The pipeline, run by :func:`deploy` (``teal plan`` runs steps 1-6 and stops):

1. **load**       the app module and config → the validated route table
2. **package**    the deterministic code zip (content-addressed)
3. **read**       the deployed stack and the domain's mapping, once
4. **synthesize** the template with the current RestApi logical id
5. **analyze**    simulate the update against API Gateway's rules → verdict;
                  when it would fail, synthesize again with the next logical id
6. **decide**     update in place, replace the API, or refuse (policy and flags)
7. **apply**      upload what the cloud lacks, then create or update the stack;
                  when the domain serves this environment and the API is
                  replaced, in two updates: new API beside the old, switch, cleanup
8. **domain**     map the domain on an environment's first deploy
9. **record**     a history entry in the cloud
10. **report**    what happened, for text or ``--json``

Everything goes through the :class:`~teal.cloud.base.Cloud` seam, so the
same rules run against the local cloud and AWS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from teal.analysis import Plan, Verdict, build_plan
from teal.checks import health_check, wait_until_healthy
from teal.cloud.base import (
    ROLLBACK_COMPLETE,
    Cloud,
    DeployedStack,
    EventSink,
    NoUpdates,
    StackFailed,
    StackRequest,
    StackResult,
    Template,
)
from teal.cloud.local.paths import teal_home
from teal.config import Target
from teal.environments import (
    APP_TAG,
    REST_API_OUTPUT,
    STAGE_OUTPUT,
    DomainState,
    Pointing,
    domain_lock_key,
    point_domain,
    read_domain,
)
from teal.errors import OperationError
from teal.loader import load_routes
from teal.oplog import OperationLock, record
from teal.package import Package, build_package
from teal.routes import RouteTable
from teal.template import ARTIFACT_BUCKET, Synthesized
from teal.template.combine import combine_for_switch, template_bytes
from teal.template.synth import with_fresh_deployment
from teal.vendor import check_unzipped_size, vendor_requirements


class Decision(Enum):
    CREATE = "create"
    UPDATE = "update"  # in place, the API stays
    REPLACE = "replace"  # a new RestApi logical id: a new API, a new endpoint
    FORCE_UPDATE = "force-update"  # in place although the analysis predicts failure
    NOOP = "noop"


@dataclass(frozen=True)
class Prepared:
    """Steps 1-5: everything known before anything is changed."""

    target: Target
    table: RouteTable
    package: Package
    deployed: DeployedStack | None  # None also for a failed create (ROLLBACK_COMPLETE)
    stale: DeployedStack | None  # a ROLLBACK_COMPLETE stack to delete before creating
    domain: DomainState | None  # the domain's mapping as read before anything changed
    plan: Plan

    @property
    def verdict(self) -> Verdict:
        return self.plan.verdict

    @property
    def current_api_id(self) -> str | None:
        return self.deployed.outputs.get(REST_API_OUTPUT) if self.deployed else None

    @property
    def domain_is_live_here(self) -> bool:
        """The domain's mapping points at this environment's current API."""
        return self.domain is not None and self.domain.live == self.target.environment


@dataclass(frozen=True)
class ReplacePolicy:
    """How to treat a predicted failure: from ``[deploy] auto_replace`` and the flags."""

    mode: str  # "auto" | "prompt" | "never"
    yes: bool = False
    force_update: bool = False
    confirm: Callable[[str], bool] | None = None  # asks on a terminal; None: no terminal


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

    @property
    def api_replaced(self) -> bool:
        return self.decision is Decision.REPLACE

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.target.stack_name,
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
        }


class ReplacementRefused(OperationError):
    """The API must be replaced and the policy says no: nothing was changed."""


class DeployFailed(OperationError):
    pass


Progress = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """The cloud and the outputs of one deploy, passed to each step that acts."""

    cloud: Cloud
    on_event: EventSink
    progress: Progress
    user: str


def prepare(target: Target, cloud: Cloud) -> Prepared:
    """Steps 1-5: load, package, read, synthesize, analyze. Changes nothing."""
    table = load_routes(target.project_dir, target.entry)
    package = package_for(target)
    found = _read_stack(cloud, target)
    failed_create = found is not None and found.status == ROLLBACK_COMPLETE
    deployed = None if failed_create else found
    domain = read_domain(cloud, target.app, target.domain) if target.domain else None
    plan = build_plan(table, target, package.key, deployed)
    return Prepared(
        target, table, package, deployed, found if failed_create else None, domain, plan
    )


def package_for(target: Target) -> Package:
    """The code package; on AWS with ``requirements.txt`` vendored for Lambda's platform.

    Locally, workers import the requirements installed beside teal, so nothing
    is vendored; the size limit is checked on both, so what deploys locally fits.
    """
    vendored = None
    if target.cloud == "aws":
        vendored = vendor_requirements(target.project_dir, target.runtime, vendor_cache_dir())
    package = build_package(target.project_dir, vendored, exclude=(teal_home(),))
    check_unzipped_size(package.unzipped_size, where=str(target.project_dir))
    return package


def vendor_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "teal" / "vendor"


def _read_stack(cloud: Cloud, target: Target) -> DeployedStack | None:
    deployed = cloud.describe_stack(target.stack_name)
    if deployed is None or deployed.is_stable or deployed.status == ROLLBACK_COMPLETE:
        return deployed
    raise OperationError(
        f"stack {target.stack_name} is {deployed.status}",
        where=target.stack_name,
        hint="wait for the running operation to end; if its process died, run the command again",
    )


def decide(prepared: Prepared, policy: ReplacePolicy) -> Decision:
    """Step 6: what to apply, or :class:`ReplacementRefused` before anything is touched."""
    if prepared.deployed is None:
        return Decision.CREATE
    if not prepared.verdict.replace:
        return Decision.UPDATE if prepared.verdict.changes.any else Decision.NOOP
    if policy.force_update:
        return Decision.FORCE_UPDATE
    if policy.mode == "auto":
        return Decision.REPLACE
    if policy.mode == "prompt":  # --yes answers the question; it never overrides "never"
        question = "The API must be replaced (its endpoint will change). Replace it?"
        if policy.yes or (policy.confirm is not None and policy.confirm(question)):
            return Decision.REPLACE
    raise ReplacementRefused(
        _refusal_text(prepared, policy),
        where=prepared.target.stack_name,
        hint=(
            'allow the replacement ([deploy] auto_replace = "auto", or "prompt" and a yes), '
            "or deploy a parallel copy and switch to it: teal deploy --extra 2, "
            "teal check --extra 2, teal switch --to 2"
        ),
    )


def _refusal_text(prepared: Prepared, policy: ReplacePolicy) -> str:
    if policy.mode == "never":
        why = 'auto_replace is "never" (or --no-auto-replace was given)'
    elif policy.confirm is None:
        why = 'auto_replace is "prompt" and there is no terminal to ask (pass --yes)'
    else:
        why = "the replacement was declined"
    reasons = "\n".join(f"  - {r.explanation}" for r in prepared.verdict.reasons)
    return (
        f"updating in place would fail, and the API was not replaced because {why}; "
        f"nothing was changed:\n{reasons}"
    )


def deploy(
    target: Target,
    cloud: Cloud,
    policy: ReplacePolicy,
    *,
    on_event: EventSink,
    progress: Progress,
    user: str,
) -> DeployReport:
    """Run the whole pipeline for one environment (see the module docstring)."""
    started = time.monotonic()
    run = Run(cloud, on_event, progress, user)
    with OperationLock(cloud, target.environment, "deploy", user):
        prepared = prepare(target, cloud)
        decision = decide(prepared, policy)
        progress(_announce(prepared, decision))
        cloud.ensure_serving()
        try:
            applied = _apply(prepared, decision, run)
        except StackFailed as failed:
            details = _failure_details(prepared, decision, failed, cloud)
            record(cloud, target, "deploy", user, details)
            raise
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
        )
        record(cloud, target, "deploy", user, report_details(report))
    return report


def _failure_details(
    prepared: Prepared, decision: Decision, failed: StackFailed, cloud: Cloud
) -> dict[str, Any]:
    first = failed.failures[0] if failed.failures else None
    return {
        "from": _endpoint(cloud, prepared.deployed.outputs if prepared.deployed else None),
        "to": None,
        "status": failed.status,
        "failed": True,
        "reason": f"{first.logical_id}: {first.reason}" if first else None,
        "code_sha256": prepared.package.sha256,
        "decision": decision.value,
    }


def report_details(report: DeployReport) -> dict[str, Any]:
    return {
        "from": report.previous_endpoint,
        "to": report.endpoint,
        "status": report.status,
        "api_replaced": report.api_replaced,
        "code_sha256": report.code_sha256,
        "decision": report.decision.value,
    }


def _announce(prepared: Prepared, decision: Decision) -> str:
    name = prepared.target.stack_name
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


@dataclass(frozen=True)
class Applied:
    status: str
    api_id: str | None
    endpoint: str | None
    previous_endpoint: str | None


def _apply(prepared: Prepared, decision: Decision, run: Run) -> Applied:
    """Step 7: upload artifacts, then create or update the stack."""
    cloud, on_event, progress = run.cloud, run.on_event, run.progress
    target = prepared.target
    plan = prepared.plan
    chosen = plan.chosen if decision is Decision.REPLACE else plan.in_place
    previous_endpoint = _endpoint(cloud, prepared.deployed.outputs if prepared.deployed else None)
    if decision is Decision.NOOP:
        return Applied(
            prepared.deployed.status if prepared.deployed else "",
            prepared.current_api_id,
            previous_endpoint,
            previous_endpoint,
        )
    _upload(cloud, prepared.package, chosen, progress)
    if prepared.stale is not None:
        progress(f"{target.stack_name} is in ROLLBACK_COMPLETE from a failed create: deleting it")
        cloud.delete_stack(target.stack_name, on_event)
    if decision is Decision.REPLACE and prepared.domain_is_live_here:
        return _replace_behind_live_domain(prepared, chosen, run)
    result = _apply_template(cloud, target, chosen.template, on_event)
    if decision is Decision.UPDATE and _removes_methods(prepared.verdict):
        progress("routes were removed: taking a fresh deployment so the stage stops serving them")
        result = _apply_template(cloud, target, with_fresh_deployment(chosen.template), on_event)
    endpoint = _endpoint(cloud, result.outputs)
    return Applied(result.status, result.outputs.get(REST_API_OUTPUT), endpoint, previous_endpoint)


def _removes_methods(verdict: Verdict) -> bool:
    return any(c.type == "AWS::ApiGateway::Method" for c in verdict.changes.removed)


def _apply_template(
    cloud: Cloud, target: Target, template: Template, on_event: EventSink
) -> StackResult:
    request = StackRequest(
        name=target.stack_name,
        template=template,
        parameters={ARTIFACT_BUCKET: cloud.artifact_bucket},
        tags=target.tags(),
    )
    try:
        return cloud.apply_stack(request, on_event)
    except NoUpdates:  # e.g. the second step of a replacement that a crash interrupted
        deployed = cloud.describe_stack(target.stack_name)
        assert deployed is not None
        return StackResult(deployed.name, deployed.status, deployed.outputs)


def _replace_behind_live_domain(prepared: Prepared, new: Synthesized, run: Run) -> Applied:
    """New API beside the old one, switch the live domain to it, then remove the old one.

    CloudFormation would delete the old API at the end of a single update, before
    teal could re-point the domain; two updates keep one API serving at every moment.
    """
    cloud, on_event, progress = run.cloud, run.on_event, run.progress
    target = prepared.target
    assert prepared.deployed is not None and target.domain is not None
    previous_endpoint = _endpoint(cloud, prepared.deployed.outputs if prepared.deployed else None)
    progress("step 1/3: building the new API beside the old one")
    both = combine_for_switch(prepared.deployed.template, new.template)
    side_by_side = _apply_template(cloud, target, both, on_event)
    new_api = side_by_side.outputs[REST_API_OUTPUT]
    new_endpoint = cloud.endpoint_url(new_api, target.stage)
    progress(f"step 2/3: checking the new API at {new_endpoint}")
    health = wait_until_healthy(new_endpoint, health_check(target.checks, prepared.table))
    if not health.ok:
        raise DeployFailed(
            f"the new API does not answer its health check ({health.url}: {health.detail}); "
            f"the domain still serves the old API, which keeps running beside the new one",
            where=target.stack_name,
            hint="fix the app and deploy again; the next deploy continues from here",
        )
    with OperationLock(cloud, domain_lock_key(target.domain.name), "deploy", run.user):
        # Read again: a switch may have moved the domain since step 3 of the pipeline.
        state = read_domain(cloud, target.app, target.domain)
        if state.mapping is not None and state.mapping.api_id == prepared.current_api_id:
            point_domain(cloud, state, new_api, target.stage)
            progress(f"switched {target.domain.name} to the new API {new_api}")
        else:
            progress(f"{target.domain.name} was switched meanwhile: left as it is")
    progress("step 3/3: removing the old API")
    result = _apply_template(cloud, target, new.template, on_event)
    return Applied(result.status, new_api, new_endpoint, previous_endpoint)


def _upload(cloud: Cloud, package: Package, synthesized: Synthesized, progress: Progress) -> None:
    """Put the code zip and nested templates the cloud does not have yet."""
    wanted: dict[str, bytes | None] = {package.key: None}
    wanted.update(dict.fromkeys(synthesized.nested))
    missing = [key for key in wanted if not cloud.has_artifact(key)]
    for key in missing:
        data = package.data if key == package.key else template_bytes(synthesized.nested[key])
        meter = _UploadMeter(key, len(data), progress) if len(data) >= METERED_UPLOAD else None
        cloud.put_artifact(key, data, meter)
    if missing:
        progress(f"uploaded {len(missing)} artifact(s); {len(wanted) - len(missing)} already there")


METERED_UPLOAD = 8 * 1024 * 1024


class _UploadMeter:
    """Reports a large upload's progress every tenth of the way."""

    def __init__(self, key: str, size: int, progress: Progress) -> None:
        self.key, self.size, self.progress = key, size, progress
        self.sent = 0
        self.shown = 0

    def __call__(self, sent: int) -> None:
        self.sent += sent  # boto3 reports the bytes of each chunk
        tenth = min(10, self.sent * 10 // max(self.size, 1))
        if tenth > self.shown:
            self.shown = tenth
            megabytes = self.size / (1024 * 1024)
            self.progress(f"uploading {self.key}: {tenth * 10}% of {megabytes:.1f} MB")


def _endpoint(cloud: Cloud, outputs: Mapping[str, str] | None) -> str | None:
    """The stage's URL from a stack's outputs (None before the first deploy)."""
    api_id = (outputs or {}).get(REST_API_OUTPUT)
    stage = (outputs or {}).get(STAGE_OUTPUT)
    return cloud.endpoint_url(api_id, stage) if api_id and stage else None


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
        with OperationLock(cloud, domain_lock_key(spec.name), "deploy", run.user):
            cloud.ensure_domain(spec, {APP_TAG: target.app})
            state = read_domain(cloud, target.app, spec)
            if state.pointing in (Pointing.NOTHING, Pointing.DANGLING):
                point_domain(cloud, state, applied.api_id, target.stage)
                run.progress(f"mapped {spec.name} to {target.environment}")
                state = read_domain(cloud, target.app, spec)
    return DomainReport(spec.name, state.url, state.live)
