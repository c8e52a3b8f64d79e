"""Change analysis: would updating the deployed stack to the new template fail?

CloudFormation updates a stack in dependency order: it creates added
resources and the replacements of resources whose create-only properties
changed (read from the provider schemas, :mod:`teal.schemas`), while every
old resource still exists; it deletes removed and replaced resources only in
the cleanup phase. So the simulation:

1. classifies every resource, across nested stacks (:mod:`teal.template.reading`):
   added, replaced (a create-only property changed, or points at a replaced
   resource), modified, removed, unchanged;
2. rebuilds each RestApi the deployed template holds as a
   :class:`teal.apigw.ApiModel`;
3. replays the creates and replacements of API resources and methods against
   it, parents first, with nothing deleted yet;
4. reports every refusal with API Gateway's own message.

``replace`` is true exactly when step 3 meets a refusal: the update would
fail, so the API needs a new logical id (a new RestApi, built beside the old).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from teal.apigw import ApiGatewayError, ApiModel, Rule
from teal.config import Target
from teal.routes import RouteTable
from teal.schemas import create_only_properties
from teal.template import (
    DeployedTemplates,
    Synthesized,
    current_rest_api_logical_id,
    next_rest_api_logical_id,
    synthesize,
)
from teal.template.names import REST_API_BASE
from teal.template.reading import MAIN, FlatResource, Ref, StackReader, refs_in

Template = dict[str, Any]
Action = Literal["create", "update", "noop"]
REST_API = "AWS::ApiGateway::RestApi"
API_RESOURCE = "AWS::ApiGateway::Resource"
API_METHOD = "AWS::ApiGateway::Method"


@dataclass(frozen=True)
class Reason:
    """Why the API must be replaced: the rule, the path, AWS's message, in user words."""

    rule: str
    path: str
    message: str
    explanation: str

    def to_json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "path": self.path,
            "message": self.message,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str  # "Id" in the main stack, "Page/Id" in a nested one
    type: str

    def to_json(self) -> dict[str, str]:
        return {"logical_id": self.logical_id, "type": self.type}


@dataclass(frozen=True)
class ResourceChanges:
    action: Action
    added: tuple[ResourceChange, ...] = ()
    modified: tuple[ResourceChange, ...] = ()
    replaced: tuple[ResourceChange, ...] = ()
    removed: tuple[ResourceChange, ...] = ()

    @property
    def any(self) -> bool:
        """Whether applying the template would change anything."""
        return self.action != "noop"

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            "added": [c.to_json() for c in self.added],
            "modified": [c.to_json() for c in self.modified],
            "replaced": [c.to_json() for c in self.replaced],
            "removed": [c.to_json() for c in self.removed],
        }


@dataclass(frozen=True)
class Verdict:
    replace: bool
    reasons: tuple[Reason, ...]
    changes: ResourceChanges


def analyze(
    deployed: Template | None,
    deployed_nested: Mapping[str, Template],
    new: Template,
    new_nested: Mapping[str, Template],
) -> Verdict:
    """Simulate updating ``deployed`` (None: nothing deployed) to ``new``."""
    new_reader = StackReader(new, new_nested)
    after = new_reader.resources()
    if deployed is None:
        added = tuple(_change(r) for r in _sorted(after.values()))
        return Verdict(False, (), ResourceChanges("create", added=added))
    old_reader = StackReader(deployed, deployed_nested)
    before = old_reader.resources()
    diff = _Diff(before, after)
    reasons = _Simulation(before, after, diff.replaced).run()
    same_outputs = old_reader.outputs() == new_reader.outputs()
    return Verdict(bool(reasons), tuple(reasons), diff.changes(same_outputs))


def _change(resource: FlatResource) -> ResourceChange:
    return ResourceChange(resource.ident, resource.type)


def _sorted(resources: Any) -> list[FlatResource]:
    return sorted(resources, key=lambda r: r.ident)


class _Diff:
    """Added, replaced, modified and removed resources, with replacement cascades."""

    def __init__(self, before: Mapping[str, FlatResource], after: Mapping[str, FlatResource]):
        self.before = before
        self.after = after
        self._replaced: dict[str, bool] = {}
        for ident in after:
            self.is_replaced(ident)
        self.replaced = frozenset(i for i, flag in self._replaced.items() if flag)

    def is_replaced(self, ident: str) -> bool:
        known = self._replaced.get(ident)
        if known is not None:
            return known
        self._replaced[ident] = False  # a reference cycle cannot make itself replaced
        old, new = self.before.get(ident), self.after[ident]
        flag = old is not None and (
            old.type != new.type
            or any(
                self._differs(old.properties.get(name), new.properties.get(name))
                for name in create_only_properties(new.type)
            )
        )
        self._replaced[ident] = flag
        return flag

    def _differs(self, old: Hashable, new: Hashable) -> bool:
        """Different values, or the same reference to a resource that gets replaced."""
        if old != new:
            return True
        return any(r.ident in self.after and self.is_replaced(r.ident) for r in refs_in(new))

    def is_modified(self, ident: str) -> bool:
        old, new = self.before[ident], self.after[ident]
        names = set(old.properties) | set(new.properties)
        return any(self._differs(old.properties.get(n), new.properties.get(n)) for n in names)

    def changes(self, same_outputs: bool) -> ResourceChanges:
        added, modified, replaced = [], [], []
        for resource in _sorted(self.after.values()):
            if resource.ident not in self.before:
                added.append(_change(resource))
            elif resource.ident in self.replaced:
                replaced.append(_change(resource))
            elif self.is_modified(resource.ident):
                modified.append(_change(resource))
        removed = [_change(r) for r in _sorted(self.before.values()) if r.ident not in self.after]
        changed = added or modified or replaced or removed or not same_outputs
        return ResourceChanges(
            "update" if changed else "noop",
            tuple(added),
            tuple(modified),
            tuple(replaced),
            tuple(removed),
        )


@dataclass
class _Api:
    """One RestApi during the simulated update, and where each resource lives in it."""

    model: ApiModel[str] = field(default_factory=ApiModel)
    old_ids: dict[str, str] = field(default_factory=dict)  # identity -> API resource id
    new_ids: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


class _Simulation:
    """Replays the update's creates against API Gateway's rules, old resources still there."""

    def __init__(
        self,
        before: Mapping[str, FlatResource],
        after: Mapping[str, FlatResource],
        replaced: frozenset[str],
    ) -> None:
        self.before = before
        self.after = after
        self.replaced = replaced
        self.apis: dict[str, _Api] = {}
        self.reasons: list[Reason] = []

    def run(self) -> list[Reason]:
        for ident, resource in self.before.items():
            if resource.type == REST_API and ident in self.after:
                self.apis[ident] = _Api()
        self._load_old()
        created = [
            r
            for r in self.after.values()
            if r.type in (API_RESOURCE, API_METHOD)
            and (r.ident not in self.before or r.ident in self.replaced)
        ]
        for resource in sorted(created, key=lambda r: (r.type == API_METHOD, self._depth(r))):
            self._create(resource)
        return self.reasons

    def _depth(self, resource: FlatResource) -> int:
        depth, parent = 0, _parent_ref(resource)
        while parent is not None and parent.attribute is None and parent.ident in self.after:
            depth += 1
            parent = _parent_ref(self.after[parent.ident])
        return depth

    def _load_old(self) -> None:
        """The deployed APIs as they are before the update."""
        old = [r for r in self.before.values() if r.type in (API_RESOURCE, API_METHOD)]
        for resource in sorted(old, key=lambda r: (r.type == API_METHOD, self._old_depth(r))):
            api = self._api_of(resource)
            if api is None:
                continue
            parent = self._old_parent_id(api, resource)
            if parent is None:
                continue
            try:
                self._apply(api, resource, parent, api.old_ids)
            except ApiGatewayError:
                continue  # a deployed template AWS accepted; skip what we cannot model

    def _old_depth(self, resource: FlatResource) -> int:
        depth, parent = 0, _parent_ref(resource)
        while parent is not None and parent.attribute is None and parent.ident in self.before:
            depth += 1
            parent = _parent_ref(self.before[parent.ident])
        return depth

    def _old_parent_id(self, api: _Api, resource: FlatResource) -> str | None:
        parent = _parent_ref(resource)
        if parent is None:
            return None
        if parent.attribute == "RootResourceId":
            return api.model.root_id
        return api.old_ids.get(parent.ident)

    def _api_of(self, resource: FlatResource) -> _Api | None:
        rest_api = resource.properties.get("RestApiId")
        if not isinstance(rest_api, Ref):
            return None
        api = self.apis.get(rest_api.ident)
        if api is None and rest_api.ident in self.after:  # a new RestApi: an empty one
            api = self.apis[rest_api.ident] = _Api()
        return api

    def _new_parent_id(self, api: _Api, resource: FlatResource) -> str | None:
        parent = _parent_ref(resource)
        if parent is None or parent.ident in api.failed:
            return None
        if parent.attribute == "RootResourceId":
            return api.model.root_id
        if parent.ident in self.replaced or parent.ident not in self.before:
            return api.new_ids.get(parent.ident)
        return api.old_ids.get(parent.ident)

    def _create(self, resource: FlatResource) -> None:
        api = self._api_of(resource)
        if api is None:
            return
        parent = self._new_parent_id(api, resource)
        if parent is None:
            api.failed.add(resource.ident)  # its parent could not be created
            return
        try:
            self._apply(api, resource, parent, api.new_ids)
        except ApiGatewayError as error:
            api.failed.add(resource.ident)
            self.reasons.append(_reason(api.model, resource, parent, error))

    def _apply(self, api: _Api, resource: FlatResource, parent: str, ids: dict[str, str]) -> None:
        if resource.type == API_RESOURCE:
            ids[resource.ident] = api.model.create_resource(
                parent, str(resource.properties.get("PathPart"))
            )
        else:
            api.model.put_method(parent, str(resource.properties.get("HttpMethod")), resource.ident)


def _parent_ref(resource: FlatResource) -> Ref | None:
    key = "ParentId" if resource.type == API_RESOURCE else "ResourceId"
    value = resource.properties.get(key)
    return value if isinstance(value, Ref) else None


def _join(parent_path: str, part: str) -> str:
    return f"{parent_path.rstrip('/')}/{part}"


def _reason(
    model: ApiModel[str], resource: FlatResource, parent: str, error: ApiGatewayError
) -> Reason:
    under = model.path_of(parent)
    why = "CloudFormation creates the new one before it deletes the old one"
    if resource.type == API_METHOD:
        verb = str(resource.properties.get("HttpMethod"))
        return Reason(
            error.rule.value,
            under,
            error.message,
            f"recreating the {verb} method of {under} needs a new API: API Gateway allows one "
            f"method per verb on a resource, and {why}",
        )
    part = str(resource.properties.get("PathPart"))
    path = _join(under, part)
    match error.rule:
        case Rule.SIBLING_VARIABLE:
            old = next((p for p in model.resource(parent).children if p.startswith("{")), "?")
            text = (
                f"renaming {old} to {part} under {under} needs a new API: API Gateway allows "
                f"one variable path part per parent, and {why}"
            )
        case Rule.DUPLICATE_PATH_PART:
            text = (
                f"recreating {path} ({_recreated_because(resource)}) needs a new API: API "
                f"Gateway allows one resource of a name under a parent, and {why}"
            )
        case _:
            text = f"creating {path} fails on API Gateway: {error.message}"
    return Reason(error.rule.value, path, error.message, text)


def _recreated_because(resource: FlatResource) -> str:
    if resource.stack != MAIN:
        return f"it moves to the nested stack {resource.stack}"
    return "its logical id or its parent changes"


@dataclass(frozen=True)
class Plan:
    """What a deploy would do: the templates to apply and the API verdict.

    ``in_place`` keeps the deployed RestApi logical id; when its ``verdict``
    says the update would fail, ``replacement`` is the same app under the next
    logical id (a new API) and ``replacement_changes`` what applying it does.
    """

    stack: str
    current_api: str | None
    in_place: Synthesized
    verdict: Verdict
    replacement: Synthesized | None = None
    replacement_changes: ResourceChanges | None = None

    @property
    def replace(self) -> bool:
        return self.verdict.replace

    @property
    def chosen(self) -> Synthesized:
        """The templates deploy applies by default (automated blue-green)."""
        return self.replacement or self.in_place

    @property
    def changes(self) -> ResourceChanges:
        return self.replacement_changes or self.verdict.changes

    @property
    def action(self) -> Action:
        return self.changes.action

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "action": self.action,
            "api": {
                "logical_id": self.chosen.rest_api_logical_id,
                "current_logical_id": self.current_api,
                "replace": self.replace,
                "reasons": [r.to_json() for r in self.verdict.reasons],
            },
            "changes": self.changes.to_json(),
        }


def build_plan(
    table: RouteTable, target: Target, code_key: str, deployed: DeployedTemplates | None
) -> Plan:
    """Synthesize under the deployed RestApi id, analyze, and rotate the id if needed."""
    old_template = deployed.template if deployed is not None else None
    old_nested = deployed.nested_templates if deployed is not None else {}
    current = current_rest_api_logical_id(old_template)
    in_place = synthesize(table, target, code_key, current or REST_API_BASE, deployed)
    verdict = analyze(old_template, old_nested, in_place.template, in_place.nested_by_logical_id)
    if not verdict.replace or current is None:
        return Plan(target.stack_name, current, in_place, verdict)
    rotated = synthesize(table, target, code_key, next_rest_api_logical_id(current), deployed)
    after = analyze(old_template, old_nested, rotated.template, rotated.nested_by_logical_id)
    return Plan(target.stack_name, current, in_place, verdict, rotated, after.changes)
