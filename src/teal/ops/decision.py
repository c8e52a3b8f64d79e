"""Steps 1-6 of deploy: what is known before anything changes, and what to do.

:func:`prepare` loads the app, packages it, reads the deployed stack and the
domain's mapping once (refusing a base path or domain settings another app
holds: :mod:`teal.ops.domains`), synthesizes and analyzes (``teal plan`` stops there);
:func:`decide` turns the verdict and the policy into a :class:`Decision`, or
refuses before anything is touched.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from teal.cloud.base import ROLLBACK_COMPLETE, Cloud, DeployedStack, PlanSummary
from teal.ops.domains import refuse_conflicts
from teal.ops.environments import DomainState, read_domain
from teal.ops.secret_refs import refuse_missing_references
from teal.plan.analysis import Plan, Verdict, build_plan
from teal.progress import Progress, notices, quiet
from teal.project.config import AutoReplace, Target
from teal.project.dependencies import (
    Dependencies,
    read_dependencies,
    requirements_file,
    target_choice,
)
from teal.project.layers import LayerPackage, cached_zip, layer_key, layer_zip
from teal.project.loader import target_routes
from teal.project.package import Package, build_package, vendored_files
from teal.project.runtimes import dependencies, find_interpreter
from teal.project.settings import runtimes_cache, teal_home
from teal.project.size_limits import check_layer_count, check_unzipped, parts_of
from teal.project.vendor import folder_size, vendor_requirements
from teal.rules.labels import REST_API_OUTPUT
from teal.runtime.errors import OperationError
from teal.runtime.routes import RouteTable


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
        """The domain's mapping points at an API of this environment."""
        return self.domain is not None and self.domain.live == self.target.environment

    @property
    def serving_api_id(self) -> str | None:
        """The API of this environment that the domain maps, if it maps one."""
        mapping = self.domain.mapping if self.domain is not None else None
        return mapping.api_id if mapping is not None and self.domain_is_live_here else None

    @property
    def resuming(self) -> bool:
        """A replacement behind the live domain stopped between its steps (a failed
        health check, a crash): the stack holds both APIs and the domain maps the old one."""
        serving = self.serving_api_id
        return serving is not None and serving != self.current_api_id


@dataclass(frozen=True)
class ReplacePolicy:
    """How to treat a predicted failure: from ``[deploy] auto_replace`` and the flags."""

    mode: AutoReplace
    yes: bool = False
    force_update: bool = False
    confirm: Callable[[str], bool] | None = None  # asks on a terminal; None: no terminal


class ReplacementRefused(OperationError):
    """The API must be replaced and the policy says no: nothing was changed."""


def prepare(target: Target, cloud: Cloud, progress: Progress = quiet) -> Prepared:
    """Steps 1-5: load, package, read, synthesize, analyze. Changes nothing."""
    table = target_routes(target, progress)
    refuse_missing_references(cloud, target)  # before packaging: a refusal is quick
    package = package_for(target)
    target = with_layers(target, package)
    found = _read_stack(cloud, target)
    failed_create = found is not None and found.status == ROLLBACK_COMPLETE
    deployed = None if failed_create else found
    domain = read_domain(cloud, target.app, target.domain) if target.domain else None
    if domain is not None:  # a shared domain: another app's base path or settings
        refuse_conflicts(cloud, target.app, domain)
    plan = build_plan(table, target, package.key, deployed)
    return Prepared(
        target, table, package, deployed, found if failed_create else None, domain, plan
    )


def package_for(target: Target, also_exclude: Sequence[Path] = ()) -> Package:
    """The code package, and the dependency layer of each architecture the functions use.

    The code zip holds the project's code alone, the same in both clouds; the
    dependencies go to a layer keyed by their pins, the runtime and the
    architecture (:mod:`teal.project.layers`): vendored for Lambda's platform on
    AWS, the folder teal installed them in for the runtime's Python locally, so
    what deploys locally fits on Lambda by the same count. teal's own state (a
    ``$TEAL_HOME`` inside the project) never travels.
    """
    needed = read_dependencies(target.project_dir, target_choice(target))
    check_layer_count(target.functions, needed is not None, where=LAYERS_WHERE)
    if target.cloud != "aws":
        _say_local_architecture(architectures(target))
    package = _build(target, None, also_exclude)
    layers = tuple(
        _layer(target, needed, architecture)
        for architecture in architectures(target)
        if needed is not None
    )
    for layer in layers:
        where = str(needed.path) if needed is not None else str(target.project_dir)
        check_unzipped(package.unzipped_size, parts_of(layer.folder), where=where)
    if not layers:
        check_unzipped(package.unzipped_size, (), where=str(target.project_dir))
    described = needed.describe() if needed is not None else None
    return replace(package, dependencies=described, layers=layers)


def with_layers(target: Target, package: Package) -> Target:
    """The target as the template needs it: with its dependency layers' keys."""
    return replace(
        target, dependency_layers=tuple((layer.architecture, layer.key) for layer in package.layers)
    )


LAYERS_WHERE = "teal.toml [functions.{name}] layers"


def architectures(target: Target) -> tuple[str, ...]:
    """The architectures the target's functions run on (the app's, and any function's own)."""
    own = {s.architecture for s in target.functions.values() if s.architecture is not None}
    return tuple(sorted({target.architecture, *own}))


def _layer(target: Target, needed: Dependencies, architecture: str) -> LayerPackage:
    key = layer_key(needed.digest, target.runtime, architecture)
    if target.cloud != "aws":
        installed = installed_requirements(target)
        assert installed is not None  # there are dependencies
        return LayerPackage(architecture, key, None, folder_size(installed), installed)
    vendored = vendor_requirements(
        target.project_dir,
        target.runtime,
        vendor_cache_dir(),
        requirements=requirements_file(needed, vendor_cache_dir()),
        architecture=architecture,
    )
    assert vendored is not None  # there are dependencies
    files = vendored_files(vendored)
    size = sum(path.stat().st_size for path in files.values())
    zipped = cached_zip(vendor_cache_dir() / key, lambda: layer_zip(files))
    return LayerPackage(architecture, key, zipped, size, vendored)


def _say_local_architecture(wanted: Sequence[str]) -> None:
    """Once a command: the local cloud runs every function on this machine's architecture."""
    here = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    other = [architecture for architecture in wanted if architecture != here]
    if other:
        notices.info(
            "the local cloud runs the %s functions on this machine's architecture (%s), "
            "with their dependencies installed for it; on AWS they run on %s",
            " and ".join(other),
            here,
            " and ".join(other),
        )


def _build(target: Target, vendored: Path | None, also_exclude: Sequence[Path]) -> Package:
    held_out = (teal_home(), *also_exclude)
    return build_package(target.project_dir, vendored, held_out, target.exclude)


def installed_requirements(target: Target) -> Path | None:
    """The folder the local workers import the dependencies from (installed when the
    app was read; installed now otherwise), or None when there are none."""
    needed = read_dependencies(target.project_dir, target_choice(target))
    if needed is None:
        return None
    interpreter = find_interpreter(target.runtime, target.local_python)
    requirements = requirements_file(needed, runtimes_cache())
    return dependencies(requirements, interpreter, runtimes_cache(), label=needed.source)


def vendor_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "teal" / "vendor"


def _read_stack(cloud: Cloud, target: Target) -> DeployedStack | None:
    deployed = cloud.describe_stack(target.environment)
    if deployed is None or deployed.is_stable or deployed.status == ROLLBACK_COMPLETE:
        return deployed
    raise OperationError(
        f"stack {target.environment} is {deployed.status}",
        where=target.environment,
        hint="wait for the running operation to end; if its process died, run the command again",
    )


def decide(prepared: Prepared, policy: ReplacePolicy) -> Decision:
    """Step 6: what to apply, or :class:`ReplacementRefused` before anything is touched."""
    if prepared.deployed is None:
        return Decision.CREATE
    if prepared.resuming:  # decided by the deploy that started it: finish the replacement
        return Decision.REPLACE
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
        where=prepared.target.environment,
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


def plan_summary(
    by: str, action: str, verdict: Verdict, *, notes: Sequence[str], steps: Sequence[str] = ()
) -> PlanSummary:
    """What a plan said, in the user's words, for the cloud's console (``Cloud.record_plan``):
    ``by`` the command that planned, ``action`` what deploy does (or did)."""
    return PlanSummary(
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        by=by,
        action=action,
        replace=verdict.replace,
        reasons=tuple(reason.message for reason in verdict.reasons),
        notes=tuple(notes),
        steps=tuple(steps),
    )
