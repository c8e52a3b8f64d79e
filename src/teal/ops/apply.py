"""Step 7 of deploy: the apply steps as data, and the small executor that runs them.

:func:`apply_steps` says what applying a decision takes, as a list of
:class:`Step` values; ``teal plan`` prints that list and ``teal deploy`` runs
it through :class:`Applier`, so what the plan shows is what deploy does.

Every template goes through one guard before it is applied
(:func:`teal.ops.environments.refuse_removing_mapped_apis`): no apply deletes an
API that a custom domain still maps.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from teal.cloud.base import (
    Action,
    Cloud,
    DeployedStack,
    EventSink,
    NoUpdates,
    StackRequest,
    StackResult,
    StageRef,
    VersionRef,
)
from teal.ops.canary import (
    CANARY_DEFAULT_WATCH_S,
    CanaryReport,
    CanaryRolledBack,
    canary_template,
    has_canary,
    new_versions,
    refuse_canary_across_apis,
    version_reader,
)
from teal.ops.checks import checks_for, health_check, run_checks, wait_until_healthy
from teal.ops.crashpoints import crash_point
from teal.ops.decision import Decision, Prepared
from teal.ops.environments import (
    DomainState,
    StackApis,
    domain_lock_key,
    point_domain,
    read_domain,
    refuse_removing_mapped_apis,
)
from teal.ops.oplog import Operation
from teal.ops.warm import WarmReport, warm_environment
from teal.ops.watch import check_watch_length, watch_reads, watch_traffic
from teal.progress import Progress, quiet
from teal.project.config import Target
from teal.project.package import Package
from teal.rules.labels import REST_API_OUTPUT, STAGE_OUTPUT
from teal.rules.watch_rules import WatchLimits, WatchReport
from teal.runtime.errors import OperationError
from teal.template import Synthesized
from teal.template.combine import combine_for_switch, serving_part, template_bytes
from teal.template.synth import with_fresh_deployment
from teal.template.types import Template
from teal.template.versions import rolled_back


class StepKind(Enum):
    CREATE = "create"
    UPDATE = "update"  # the template, in place (also under a new RestApi id)
    FRESH_DEPLOYMENT = "fresh-deployment"  # once more, so the stage drops removed routes
    SIDE_BY_SIDE = "side-by-side"  # the new API beside the old, which keeps serving
    REPOINT = "repoint"  # check the new API, then move the domain to it in one call
    WATCH = "watch"  # [deploy] watch: the new API's traffic; on a breach, back to the old
    REMOVE_OLD_API = "remove-old-api"  # the new template alone: the old API goes
    CANARY = "canary"  # in place, the changed functions' aliases sharing the new versions
    CANARY_WATCH = "canary-watch"  # the new versions' traffic; on a breach, roll back
    PROMOTE = "promote"  # the aliases fully on the new versions


@dataclass(frozen=True)
class Step:
    kind: StepKind
    does: str

    def to_json(self) -> dict[str, str]:
        return {"step": self.kind.value, "does": self.does}


def apply_steps(prepared: Prepared, decision: Decision) -> tuple[Step, ...]:
    """What applying ``decision`` takes, in order (nothing for a no-op)."""
    stack = prepared.target.environment
    match decision:
        case Decision.NOOP:
            return ()
        case Decision.CREATE:
            return (Step(StepKind.CREATE, f"create the stack {stack}"),)
        case Decision.REPLACE if prepared.domain_is_live_here:
            return _replace_behind_domain(prepared)
        case Decision.REPLACE:
            return (
                Step(
                    StepKind.UPDATE,
                    f"update {stack} under a new RestApi id: the new API is built, "
                    f"then the old one is deleted{_no_canary(prepared)}",
                ),
            )
        case Decision.FORCE_UPDATE:
            return (Step(StepKind.UPDATE, f"update {stack} in place (predicted to fail)"),)
        case Decision.UPDATE:
            steps = [*_canary_steps(prepared)] or [
                Step(StepKind.UPDATE, f"update {stack} in place")
            ]
            if any(c.type == "AWS::ApiGateway::Method" for c in prepared.verdict.changes.removed):
                steps.append(
                    Step(
                        StepKind.FRESH_DEPLOYMENT,
                        "apply again with a fresh deployment, so the stage stops serving "
                        "the removed routes",
                    )
                )
            return tuple(steps)


def _replace_behind_domain(prepared: Prepared) -> tuple[Step, ...]:
    domain = prepared.target.domain.name if prepared.target.domain else "the domain"
    first = (
        "continue the stopped replacement: keep the old API, which still serves, and "
        "bring the new one up to date beside it"
        if prepared.resuming
        else "build the new API beside the old one, which keeps serving"
    )
    watch = prepared.target.watch
    watching = (
        Step(
            StepKind.WATCH,
            f"watch the new API's traffic for {watch.seconds} s; on a breach, point {domain} "
            "back at the old API",
        )
        if watch.seconds is not None
        else None
    )
    return tuple(
        step
        for step in (
            Step(StepKind.SIDE_BY_SIDE, first + _no_canary(prepared)),
            Step(
                StepKind.REPOINT,
                f"warm and check the new API, then re-point {domain} to it in one call",
            ),
            watching,
            Step(StepKind.REMOVE_OLD_API, "remove the old API"),
        )
        if step is not None
    )


def _canary_steps(prepared: Prepared) -> tuple[Step, ...]:
    """A canary's steps, when one is asked for and a function's version changes."""
    percent = prepared.target.canary_percent
    deployed = prepared.deployed.template if prepared.deployed else None
    if percent is None or not has_canary(deployed, prepared.plan.in_place.template):
        return ()
    limits = canary_watch(prepared.target)
    return (
        Step(
            StepKind.CANARY,
            f"update {prepared.target.environment} in place, each changed function's alias "
            f"sending {percent:g}% of its invocations to the new version",
        ),
        Step(
            StepKind.CANARY_WATCH,
            f"watch the new versions' traffic for {limits.seconds} s ({limits.describe()}); "
            "on a breach, put the aliases back on the old versions",
        ),
        Step(StepKind.PROMOTE, "move the aliases fully to the new versions"),
    )


def _no_canary(prepared: Prepared) -> str:
    if prepared.target.canary_percent is None:
        return ""
    return (
        " (no canary: one API Gateway domain cannot split its traffic across two RestApis; "
        "deploy to an extra environment, try it with teal preview, then teal switch --watch)"
    )


def canary_watch(target: Target) -> WatchLimits:
    """The canary's watch: ``--watch`` or ``[deploy] watch``, else five minutes."""
    settings = target.watch
    return WatchLimits(
        int(settings.seconds or CANARY_DEFAULT_WATCH_S),
        settings.max_error_rate,
        settings.max_p99_ms,
        where=settings.where if settings.seconds else target.canary_where,
    )


class DeployFailed(OperationError):
    pass


@dataclass(frozen=True)
class Run:
    """The cloud and the outputs of one deploy, passed to each step that acts."""

    cloud: Cloud
    on_event: EventSink
    progress: Progress
    operation: Operation
    live: Progress = quiet  # a watch's figures as they come
    warm: bool = True  # warm the new functions before a re-point moves traffic to them


class SwitchedBack(DeployFailed):
    """The watch after a replacement's re-point saw a breach: the domain is back on the
    old API, which still runs beside the new one."""

    def __init__(self, what: str, *, where: str, watch: WatchReport) -> None:
        super().__init__(
            what, where=where, hint="fix the app and deploy again; the next deploy continues"
        )
        self.watch = watch


@dataclass(frozen=True)
class Applied:
    status: str
    api_id: str | None
    endpoint: str | None
    previous_endpoint: str | None
    watch: WatchReport | None = None  # the watch after the re-point, if one ran
    warmed: WarmReport | None = None  # warming the new functions before the re-point
    uploaded: Mapping[str, int] = field(default_factory=dict)  # artifact key -> bytes sent
    canary: CanaryReport | None = None


def apply(prepared: Prepared, decision: Decision, run: Run) -> Applied:
    """Upload what the cloud lacks, then run the steps of the decision."""
    chosen = prepared.plan.chosen if decision is Decision.REPLACE else prepared.plan.in_place
    applier = Applier(prepared, chosen, run)
    steps = apply_steps(prepared, decision)
    uploaded: dict[str, int] = {}
    if steps:
        uploaded = upload(run.cloud, prepared.package, chosen, run.progress)
        applier.delete_failed_create()
    for number, step in enumerate(steps, start=1):
        if len(steps) > 1:
            run.progress(f"step {number}/{len(steps)}: {step.does}")
        applier.run(step)
    return replace(applier.applied(), uploaded=uploaded)


class Applier:
    """Runs steps one after the other, keeping what each leaves for the next."""

    def __init__(self, prepared: Prepared, chosen: Synthesized, run: Run) -> None:
        self.prepared = prepared
        self.chosen = chosen
        self.run_ = run
        self.target = prepared.target
        deployed = prepared.deployed
        self.before = StackApis(deployed.template, deployed.outputs) if deployed else None
        self.applied_template = deployed.template if deployed else None
        self.status = deployed.status if deployed else ""
        self.outputs: Mapping[str, str] = deployed.outputs if deployed else {}
        # The API the domain served before: a retiring one when a replacement resumes.
        serving = prepared.serving_api_id or prepared.current_api_id
        self.previous_endpoint = self._endpoint_of(serving)
        self.repointed_at: float | None = None  # when the domain moved (epoch seconds)
        self.watch: WatchReport | None = None
        self.warmed: WarmReport | None = None
        self.canary_started: float | None = None  # when the aliases began to share
        self.canary_versions: list[VersionRef] = []
        self.canary: CanaryReport | None = None

    def run(self, step: Step) -> None:
        match step.kind:
            case StepKind.CREATE | StepKind.UPDATE | StepKind.REMOVE_OLD_API:
                self._apply(self.chosen.template)
            case StepKind.FRESH_DEPLOYMENT:
                self._apply(with_fresh_deployment(self.chosen.template))
            case StepKind.SIDE_BY_SIDE:
                assert self.applied_template is not None
                old = serving_part(self.applied_template)
                self._apply(combine_for_switch(old, self.chosen.template))
                crash_point("deploy:side-by-side")
            case StepKind.REPOINT:
                self._check_then_repoint()
                crash_point("deploy:repointed")
            case StepKind.WATCH:
                self._watch_new_api()
            case StepKind.CANARY:
                self._start_canary()
            case StepKind.CANARY_WATCH:
                self._watch_canary()
            case StepKind.PROMOTE:
                self._promote()

    def delete_failed_create(self) -> None:
        if self.prepared.stale is not None:
            self.run_.progress(
                f"{self.target.environment} is in ROLLBACK_COMPLETE from a failed create: "
                "deleting it"
            )
            self.run_.cloud.delete_stack(self.target.environment, self.run_.on_event)

    def applied(self) -> Applied:
        api_id = self.outputs.get(REST_API_OUTPUT)
        endpoint = self._endpoint_of(api_id)
        return Applied(
            self.status,
            api_id,
            endpoint,
            self.previous_endpoint,
            self.watch,
            warmed=self.warmed,
            canary=self.canary,
        )

    # ------------------------------------------------------------ a canary

    def _deployed_template(self) -> Template:
        assert self.prepared.deployed is not None
        return self.prepared.deployed.template

    def _start_canary(self) -> None:
        percent = self.target.canary_percent
        assert percent is not None
        template = canary_template(self._deployed_template(), self.chosen.template, percent)
        details = {"percent": percent}
        with self._recorded("canary-started", details) as started:
            self._apply(template)
            self.canary_started = time.time()
            self.canary_versions = new_versions(self.outputs)
            listed = ", ".join(f"{v.function}:{v.version}" for v in self.canary_versions)
            started.end("done", {"versions": listed})
        self.run_.progress(f"canary: {percent:g}% of the invocations go to {listed}")

    def _watch_canary(self) -> None:
        percent = self.target.canary_percent
        assert percent is not None and self.canary_started is not None
        limits = canary_watch(self.target)
        result = watch_reads(
            version_reader(self.run_.cloud, self.canary_versions),
            "the new versions",
            limits,
            self.run_.cloud.traffic_timing,
            since=self.canary_started,
            live=self.run_.live,
        )
        if result.interrupted:
            report = CanaryReport.of(percent, result, "rolled-back")
            self._roll_back(report)
            self.run_.progress(
                "canary stopped (Ctrl-C): the aliases are back on the old versions, which "
                "serve every invocation; the new versions stay published, serving nothing"
            )
            raise KeyboardInterrupt
        if result.breach is not None:
            report = CanaryReport.of(percent, result, "rolled-back")
            self._roll_back(report)
            raise CanaryRolledBack(
                f"the canary's new versions saw {result.breach}; every alias is back on its "
                "old version",
                where=self.target.environment,
                report=report,
            )
        self.canary = CanaryReport.of(percent, result, "promoted")

    def _promote(self) -> None:
        assert self.canary is not None
        with self._recorded("canary-promoted", self.canary.to_json()):
            self._apply(self.chosen.template)
        self.run_.progress("canary promoted: the aliases are on the new versions")

    def _roll_back(self, report: CanaryReport) -> None:
        self.canary = report
        self.run_.progress("canary: putting every alias back on its old version")
        with self._recorded("canary-rolled-back", report.to_json()):
            self._apply(rolled_back(self._deployed_template(), self.chosen.template))

    def _recorded(self, action: Action, details: Mapping[str, Any]) -> Any:
        run, target = self.run_, self.target
        entry = Operation(run.cloud, target, action, run.operation.user, run.progress)
        return entry.recorded(target.environment, target.environment, details)

    def _apply(self, template: Template) -> None:
        """Apply one template, after the guard: no API that a domain maps is deleted."""
        cloud = self.run_.cloud
        if self.before is not None:
            refuse_removing_mapped_apis(cloud, self.target.environment, self.before, template)
        request = StackRequest.of_environment(self.target, template, cloud.artifact_bucket)
        try:
            result = cloud.apply_stack(request, self.run_.on_event)
        except NoUpdates:  # e.g. the first step of a replacement that a crash interrupted
            result = _as_result(cloud.describe_stack(self.target.environment))
        self.status, self.outputs = result.status, result.outputs
        self.applied_template = template
        self.before = StackApis(template, result.outputs)

    def _check_then_repoint(self) -> None:
        cloud, target, progress = self.run_.cloud, self.target, self.run_.progress
        assert target.domain is not None
        new_api = self.outputs[REST_API_OUTPUT]
        new_endpoint = self._endpoint_of(new_api)
        assert new_endpoint is not None
        if self.run_.warm:  # before the checks too: they would be its first cold starts
            deployed = self.prepared.deployed
            self.warmed = warm_environment(
                cloud,
                target,
                self.chosen.template,
                deployed.template if deployed else None,
                progress,
            )
        progress(f"checking the new API at {new_endpoint}")
        health = wait_until_healthy(new_endpoint, health_check(target.checks, self.prepared.table))
        if not health.ok:
            raise DeployFailed(
                f"the new API does not answer its health check ({health.url}: {health.detail}); "
                f"the domain still serves the old API, which keeps running beside the new one",
                where=target.environment,
                hint="fix the app and deploy again; the next deploy continues from here",
            )
        self._run_checks(new_endpoint)
        with self.run_.operation.lock(domain_lock_key(target.domain)):
            # Read again: a switch may have moved the domain since the pipeline's read.
            state = read_domain(cloud, target.app, target.domain)
            if state.mapping is not None and state.mapping.api_id == self.prepared.serving_api_id:
                point_domain(cloud, state, new_api, target.stage)
                self.repointed_at = time.time()
                progress(f"switched {target.domain.name} to the new API {new_api}")
            else:
                progress(f"{target.domain.name} was switched meanwhile: left as it is")

    def _run_checks(self, new_endpoint: str) -> None:
        """Every [[checks]] against the new API, as before any switch: the re-point is one."""
        checks, _ = checks_for(self.target.checks, self.prepared.table)
        results = run_checks(new_endpoint, checks)
        for result in results:
            verdict = "ok" if result.ok else "FAILED"
            self.run_.progress(
                f"check {result.check.method} {result.check.path}: {verdict} ({result.detail})"
            )
        failed = [r for r in results if not r.ok]
        if failed:
            listed = "\n".join(f"  - {r.check.method} {r.check.path}: {r.detail}" for r in failed)
            flags = self.target.flags
            raise DeployFailed(
                f"{len(failed)} of {len(results)} check(s) failed on the new API; the domain "
                f"still serves the old API, which keeps running beside it:\n{listed}",
                where=self.target.environment,
                hint=f"see what it logged (teal logs{flags}), fix the app and deploy again "
                f"(teal deploy{flags}); the next deploy continues from here",
            )

    def _watch_new_api(self) -> None:
        """Watch the new API's traffic since the re-point, under the domain's lock; on a
        breach point the domain back at the old API, which still runs, and fail."""
        cloud, target, progress = self.run_.cloud, self.target, self.run_.progress
        assert target.domain is not None
        old_api, new_api = self.prepared.serving_api_id, self.outputs[REST_API_OUTPUT]
        if self.repointed_at is None or old_api is None:
            progress("no watch: the domain was not moved to the new API")
            return
        limits = replacement_watch(target)
        with self.run_.operation.lock(domain_lock_key(target.domain)):
            state = read_domain(cloud, target.app, target.domain)
            if state.mapping is None or state.mapping.api_id != new_api:
                progress(f"no watch: {target.domain.name} was switched meanwhile")
                return
            progress(f"watching the new API {new_api} for {limits.seconds} s ({limits.describe()})")
            stage = StageRef(new_api, target.environment, target.stage)
            result = watch_traffic(
                cloud, stage, limits, since=self.repointed_at, live=self.run_.live
            )
            if result.interrupted:
                progress(
                    f"watch stopped (Ctrl-C): {target.domain.name} stays on the new API; the old "
                    "one keeps running beside it until the next deploy removes it"
                )
                raise KeyboardInterrupt
            if result.breach is None:
                self.watch = WatchReport(result, limits, "held")
                return
            self._switch_back(state, old_api, WatchReport(result, limits, "switched-back"))

    def _switch_back(self, state: DomainState, old_api: str, watch: WatchReport) -> None:
        """Point the domain at the old API again, verify through it, record, and fail."""
        cloud, target, run = self.run_.cloud, self.target, self.run_
        spec = state.spec
        breach = watch.result.breach
        run.progress(f"{breach}: pointing {spec.name} back at the old API {old_api}")
        back = Operation(cloud, target, "switched-back", run.operation.user, run.progress)
        details = {"domain": spec.name, "api": old_api, "watch": watch.to_json()}
        with back.recorded(target.environment, target.environment, details):
            point_domain(cloud, state, old_api, target.stage)
            health = wait_until_healthy(
                state.url, health_check(target.checks, self.prepared.table), deadline_s=10.0
            )
            if not health.ok:
                raise DeployFailed(
                    f"{spec.name} is back on the old API {old_api}, but it does not answer its "
                    f"health check ({health.url}: {health.detail})",
                    where=spec.name,
                )
        self.watch = watch
        raise SwitchedBack(
            f"the watch of the new API saw {breach}; {spec.name} is back on the old API "
            f"{old_api}, which keeps running beside the new one",
            where=target.environment,
            watch=watch,
        )

    def _endpoint_of(self, api_id: str | None) -> str | None:
        return self.run_.cloud.endpoint_url(api_id, self.target.stage) if api_id else None


def refuse_short_watch(prepared: Prepared, decision: Decision, cloud: Cloud) -> None:
    """A replacement's watch too short for the cloud's numbers is bad input: said before
    anything is recorded or changed (exit 2)."""
    steps = apply_steps(prepared, decision)
    if any(step.kind is StepKind.WATCH for step in steps):
        limits = replacement_watch(prepared.target)
        check_watch_length(limits, cloud.traffic_timing, cloud.name)
    if any(step.kind is StepKind.CANARY for step in steps):
        check_watch_length(canary_watch(prepared.target), cloud.traffic_timing, cloud.name)
    if decision is Decision.REPLACE and prepared.target.canary_where.startswith("--canary"):
        raise refuse_canary_across_apis(prepared.target.canary_where)


def replacement_watch(target: Target) -> WatchLimits:
    """The watch ``[deploy] watch`` asks for after a replacement's re-point."""
    settings = target.watch
    return WatchLimits(
        int(settings.seconds or 0),
        settings.max_error_rate,
        settings.max_p99_ms,
        where=settings.where,
    )


def _as_result(deployed: DeployedStack | None) -> StackResult:
    assert deployed is not None
    return StackResult(deployed.name, deployed.status, deployed.outputs)


def endpoint(cloud: Cloud, outputs: Mapping[str, str] | None) -> str | None:
    """The stage's URL from a stack's outputs (None before the first deploy)."""
    api_id = (outputs or {}).get(REST_API_OUTPUT)
    stage = (outputs or {}).get(STAGE_OUTPUT)
    return cloud.endpoint_url(api_id, stage) if api_id and stage else None


def upload(
    cloud: Cloud, package: Package, synthesized: Synthesized, progress: Progress
) -> dict[str, int]:
    """Put the code zip, the dependency layers and the nested templates the cloud does
    not have yet; the bytes sent, by key. (Locally the dependency layer is the install
    the local cloud keeps: there is no zip to send.)"""
    wanted: dict[str, bytes | None] = {package.key: package.data}
    wanted.update({layer.key: layer.data for layer in package.layers if layer.data is not None})
    wanted.update(dict.fromkeys(synthesized.nested))
    missing = [key for key in wanted if not cloud.has_artifact(key)]
    sent: dict[str, int] = {}
    for key in missing:
        data = wanted[key]
        if data is None:
            data = template_bytes(synthesized.nested[key])
        meter = _UploadMeter(key, len(data), progress) if len(data) >= METERED_UPLOAD else None
        cloud.put_artifact(key, data, meter)
        sent[key] = len(data)
    if missing:
        progress(f"uploaded {len(missing)} artifact(s); {len(wanted) - len(missing)} already there")
    return sent


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
