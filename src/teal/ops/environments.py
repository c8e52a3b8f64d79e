"""Deployed environments and the domain mappings that point at them, read through the Cloud.

Shared by deploy and blue-green: which environment is live on a domain, whose
API a mapping points at, which one a domain previews, and the locks that
serialize every change of a mapping or a preview (one per base path) and of
the domain itself.

A preview (``teal preview``): requests to the domain that carry
``teal-preview: <value>`` go to the previewed environment; every other request
follows the base path mapping to the live one. The value is the environment's
extra (``2``), or its name when it has none (``blog-dev``). It is one of the
domain's routing rules, which API Gateway evaluates before the mappings once
the domain's routing mode lets it: one header condition, and for a domain
mapped under a base path that base path too, stripped as the mapping strips
it. A domain (and base path) has one preview at a time; teal knows its rule by
the header's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from teal.cloud.base import (
    BasePathMapping,
    Cloud,
    DeployedStack,
    DomainInfo,
    RoutingRule,
)
from teal.project.config import DomainSpec, Target
from teal.rules.labels import (
    API_KEY_OUTPUT,
    APP_TAG,
    ENV_TAG,
    EXTRA_TAG,
    REST_API_OUTPUT,
    RETIRING_API_OUTPUT,
    STAGE_OUTPUT,
)
from teal.runtime.errors import OperationError, UserError
from teal.template.synth import METADATA_KEY
from teal.template.types import Template


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
    # The previous API, still in the stack while a replacement is between its steps.
    retiring_api_id: str | None = None
    api_key_id: str | None = None  # the environment's API key, when a route requires one
    # the app's functions by name -> their physical names (the template's metadata)
    functions: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_ids(self) -> tuple[str, ...]:
        """Every API the environment's stack holds: its own, and a retiring one."""
        return tuple(a for a in (self.api_id, self.retiring_api_id) if a)

    def endpoint(self, cloud: Cloud) -> str | None:
        return cloud.endpoint_url(self.api_id, self.stage) if self.api_id and self.stage else None

    @classmethod
    def from_stack(cls, stack: DeployedStack) -> Environment:
        return cls(
            name=stack.name,
            env=stack.tags.get(ENV_TAG, ""),
            extra=stack.tags.get(EXTRA_TAG) or None,
            status=stack.status,
            api_id=stack.outputs.get(REST_API_OUTPUT),
            stage=stack.outputs.get(STAGE_OUTPUT),
            updated_at=stack.updated_at,
            retiring_api_id=stack.outputs.get(RETIRING_API_OUTPUT),
            api_key_id=stack.outputs.get(API_KEY_OUTPUT),
            functions=_functions_of(stack.template),
        )


def _functions_of(template: Template | None) -> dict[str, str]:
    meta = (template or {}).get("Metadata", {}).get(METADATA_KEY, {})
    functions = meta.get("functions", {}) if isinstance(meta, dict) else {}
    return {str(k): str(v) for k, v in functions.items()} if isinstance(functions, dict) else {}


def environments(cloud: Cloud, app: str) -> list[Environment]:
    stacks = cloud.list_stacks({APP_TAG: app})
    return sorted((Environment.from_stack(s) for s in stacks), key=lambda e: e.name)


def find_environment(cloud: Cloud, target: Target) -> Environment:
    stack = cloud.describe_stack(target.environment)
    if stack is None:
        raise UserError(
            f"environment {target.environment} does not exist in the {target.cloud} cloud",
            where=target.environment,
            hint=f"deploy it first: teal deploy{target.flags}",
        )
    if stack.tags.get(APP_TAG) != target.app:
        raise UserError(
            f"stack {stack.name} does not belong to app {target.app}",
            where=stack.name,
            hint="another app's stack has this environment's name: leave it alone, and give "
            "this app another name ([app] name) or environment (--env, --extra)",
        )
    return Environment.from_stack(stack)


@dataclass(frozen=True)
class ApiHolder:
    """The environment (and its app) whose stack holds an API."""

    app: str
    environment: str


def api_holders(cloud: Cloud) -> dict[str, ApiHolder]:
    """Every API an environment of any app holds (its own, and a retiring one), by id."""
    holders: dict[str, ApiHolder] = {}
    for stack in cloud.list_stacks({}):
        app = stack.tags.get(APP_TAG)
        if app is None:
            continue
        env = Environment.from_stack(stack)
        for api_id in env.api_ids:
            holders[api_id] = ApiHolder(app, env.name)
    return holders


class Pointing(Enum):
    """What a domain's mapping points at, seen from one app."""

    NOTHING = "nothing"  # no mapping
    OURS = "ours"  # an environment of this app
    DANGLING = "dangling"  # an API no environment holds any more, on a domain this app made
    FOREIGN = "foreign"  # another app's API, or one teal does not know: never touched


@dataclass(frozen=True)
class DomainState:
    """A domain's mapping, read once, and whom it serves."""

    spec: DomainSpec
    info: DomainInfo | None
    mapping: BasePathMapping | None
    live: str | None  # the environment of this app it serves
    pointing: Pointing

    @property
    def url(self) -> str:
        base = self.info.url if self.info else f"https://{self.spec.name}/"
        path = self.spec.base_path.strip("/")
        return base if not path or base.rstrip("/").endswith(path) else f"{base}{path}/"

    @property
    def may_repoint(self) -> bool:
        """teal changes a mapping only when it is absent, ours, or dangling on our domain."""
        return self.pointing is not Pointing.FOREIGN


def read_domain(cloud: Cloud, app: str, spec: DomainSpec) -> DomainState:
    mapping = cloud.get_mapping(spec.name, spec.base_path)
    info = cloud.get_domain(spec.name)
    if mapping is None:
        return DomainState(spec, info, None, None, Pointing.NOTHING)
    live = next((e.name for e in environments(cloud, app) if mapping.api_id in e.api_ids), None)
    if live is not None:
        return DomainState(spec, info, mapping, live, Pointing.OURS)
    # a shared domain: the app that made it does not own the other apps' base paths
    ours = info is not None and info.tags.get(APP_TAG) == app
    dangling = ours and mapping.api_id not in api_holders(cloud)
    pointing = Pointing.DANGLING if dangling else Pointing.FOREIGN
    return DomainState(spec, info, mapping, None, pointing)


def point_domain(cloud: Cloud, state: DomainState, api_id: str, stage: str) -> None:
    """Create the mapping, or re-point it in one atomic update (never delete + create)."""
    new = BasePathMapping(state.spec.name, state.spec.base_path, api_id, stage)
    if state.mapping is None:
        cloud.create_mapping(new)
    else:
        cloud.update_mapping(new)
    cloud.ensure_serving()  # locally: a new domain's listener is up before we return


def domain_lock_key(spec: DomainSpec) -> str:
    """The lock of one app's mapping of a domain (and its preview rule): ``domain:<name>``
    for the root, ``domain:<name>/<base path>`` under one. Apps that share a domain map
    base paths of their own, so one app's switch (or watch) never waits for another's."""
    path = spec.base_path.strip("/")
    return f"domain:{spec.name}/{path}" if path else f"domain:{spec.name}"


def shared_domain_lock_key(name: str) -> str:
    """The lock of what the apps sharing a domain have in common: creating (or updating)
    the domain itself, and deleting it. Held for moments; taken after the mapping's."""
    return f"domain-itself:{name}"


class MappedApiRemoval(OperationError):
    """An apply would delete an API that a domain still maps: refused, nothing changed."""


@dataclass(frozen=True)
class StackApis:
    """A stack's template and outputs: which APIs it holds, by logical id."""

    template: Template
    outputs: Mapping[str, str]

    def held(self) -> dict[str, str]:
        """Physical API id -> logical id, for the current API and a retiring one."""
        held: dict[str, str] = {}
        declared = self.template.get("Outputs", {})
        for output in (REST_API_OUTPUT, RETIRING_API_OUTPUT):
            api_id = self.outputs.get(output)
            ref = declared.get(output, {}).get("Value", {})
            logical_id = ref.get("Ref") if isinstance(ref, dict) else None
            if api_id and isinstance(logical_id, str):
                held[api_id] = logical_id
        return held


def refuse_removing_mapped_apis(
    cloud: Cloud, stack: str, before: StackApis, after: Template | None
) -> None:
    """The guard every apply and delete passes: no API that a domain maps, or that a
    domain's routing rule sends requests to (a preview), is deleted.

    ``after`` is the template about to be applied (None: the stack is deleted).
    """
    kept = after.get("Resources", {}) if after is not None else {}
    for api_id, logical_id in sorted(before.held().items()):
        if logical_id in kept:
            continue
        mappings = cloud.mappings_of_api(api_id)
        if mappings:
            where = ", ".join(f"{m.domain}/{m.base_path}" for m in mappings)
            raise MappedApiRemoval(
                f"refusing to change {stack}: it would delete API {api_id}, which {where} "
                "still maps; nothing was changed",
                where=stack,
                hint="run teal deploy again (it moves the domain to the new API first), or "
                "switch the domain to another environment with teal switch --to",
            )
        rules = cloud.rules_of_api(api_id)
        if rules:
            domains = ", ".join(sorted({domain for domain, _ in rules}))
            raise MappedApiRemoval(
                f"refusing to change {stack}: it would delete API {api_id}, to which a "
                f"routing rule of {domains} sends requests (a preview); nothing was changed",
                where=stack,
                hint="end the preview first: teal preview --off",
            )


# -- previews ----------------------------------------------------------------

PREVIEW_HEADER = "teal-preview"
FIRST_PRIORITY = 100  # teal's rules start here, leaving room before them for the user's


@dataclass(frozen=True)
class Preview:
    """The preview a domain has: its rule, and the environment the rule sends to."""

    environment: str | None  # None: the rule's API is no environment of the app (any more)
    rule: RoutingRule

    @property
    def value(self) -> str:
        return self.rule.headers[0][1]

    @property
    def header(self) -> str:
        return f"{PREVIEW_HEADER}: {self.value}"

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "environment": self.environment}


def header_value(target: Target) -> str:
    """What a request carries in ``teal-preview`` to reach ``target``: its extra, or the
    environment's name when it has no extra."""
    return target.extra or target.environment


def is_preview_rule(rule: RoutingRule, spec: DomainSpec) -> bool:
    """teal's preview rule of this domain's base path: one ``teal-preview`` header
    condition, and the base path's condition (none for the root)."""
    wanted = (spec.base_path,) if spec.base_path else ()
    return (
        len(rule.headers) == 1
        and rule.headers[0][0].lower() == PREVIEW_HEADER
        and rule.base_paths == wanted
    )


def find_preview(cloud: Cloud, app: str, spec: DomainSpec) -> Preview | None:
    """The domain's preview, read from its routing rules (None without a domain, and
    without a call more while the domain routes by base path mappings only)."""
    found = find_previews(cloud, app, spec)
    return found[0] if found else None


def find_previews(cloud: Cloud, app: str, spec: DomainSpec) -> list[Preview]:
    """Every preview rule of teal's on the domain, by priority: one, but where deleting
    the one a new preview replaced failed."""
    info = cloud.get_domain(spec.name)
    if info is None or not info.rules_route:
        return []
    rules = [r for r in cloud.list_routing_rules(spec.name) if is_preview_rule(r, spec)]
    if not rules:
        return []
    known = environments(cloud, app)
    return [
        Preview(next((e.name for e in known if rule.api_id in e.api_ids), None), rule)
        for rule in rules
    ]


def preview_rule(
    spec: DomainSpec, api_id: str, stage: str, value: str, priority: int
) -> RoutingRule:
    """The rule that sends requests carrying ``teal-preview: value`` to the stage."""
    return RoutingRule(
        priority=priority,
        api_id=api_id,
        stage=stage,
        headers=((PREVIEW_HEADER, value),),
        base_paths=(spec.base_path,) if spec.base_path else (),
        strip_base_path=bool(spec.base_path),
    )


def free_priority(rules: Sequence[RoutingRule]) -> int:
    """The first priority from :data:`FIRST_PRIORITY` on that no rule of the domain has."""
    taken = {rule.priority for rule in rules}
    priority = FIRST_PRIORITY
    while priority in taken:
        priority += 1
    return priority


def stack_queue(cloud: Cloud, target: Target, name: str) -> str:
    """The logical id of the environment's queue ``name`` (teal's name, or a logical id)."""
    deployed = cloud.describe_stack(target.environment)
    meta = (deployed.template.get("Metadata", {}) if deployed else {}).get(METADATA_KEY, {})
    named: dict[str, str] = meta.get("queues", {}) if isinstance(meta, dict) else {}
    for logical_id, queue in named.items():
        if name in (queue, logical_id):
            return logical_id
    resources = deployed.template.get("Resources", {}) if deployed else {}
    if resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
        return name
    known = sorted(q for q in named.values() if not q.endswith("-dead-letter"))
    raise UserError(
        f"environment {target.environment} has no queue {name!r}",
        where=target.environment,
        hint=f"its queues: {', '.join(known) or 'none'}; or give a queue's ARN",
    )
