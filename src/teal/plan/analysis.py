"""Change analysis: would updating the deployed stack to the new template fail?

CloudFormation updates a stack in dependency order: it creates added
resources and the replacements of resources whose create-only properties
changed (read from the provider schemas, :mod:`teal.rules.schemas`), while every
old resource still exists; it deletes removed and replaced resources only in
the cleanup phase. So the simulation:

1. classifies every resource, across nested stacks (:mod:`teal.template.reading`):
   added, replaced (a create-only property changed, or points at a replaced
   resource), modified, removed, unchanged;
2. rebuilds each RestApi the deployed template holds as a
   :class:`teal.rules.apigateway.ApiModel` (the parents that get new children or
   methods, with their ancestors, children and methods: all a rule looks at);
3. replays the creates and replacements of API resources and methods against
   it, parents first, with nothing deleted yet;
4. reports every refusal with API Gateway's own message.

``replace`` is true exactly when step 3 meets a refusal: the update would
fail, so the API needs a new logical id (a new RestApi, built beside the old).
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from teal.plan.access_notes import access_notes
from teal.plan.explain import explain
from teal.plan.reasons import Reasons, Side
from teal.project.config import Target
from teal.rules.apigateway import ApiGatewayError, ApiModel, Rule
from teal.rules.schemas import create_only_properties
from teal.runtime.routes import RouteTable
from teal.template import (
    DeployedTemplates,
    Synthesized,
    current_rest_api_logical_id,
    next_rest_api_logical_id,
    synthesize,
)
from teal.template.names import REST_API_BASE
from teal.template.reading import MAIN, FlatResource, Ref, StackReader
from teal.template.synth import METADATA_KEY
from teal.template.types import Template

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
    reason: str = field(default="", compare=False)  # why, in the app's words (plan.reasons)

    def to_json(self) -> dict[str, str]:
        found = {"logical_id": self.logical_id, "type": self.type}
        return found | ({"reason": self.reason} if self.reason else {})


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
    notes: tuple[str, ...] = ()  # changes to CORS, authorizers and API keys, in user words


def analyze(
    deployed: Template | None,
    deployed_nested: Mapping[str, Template],
    new: Template,
    new_nested: Mapping[str, Template],
) -> Verdict:
    """Simulate updating ``deployed`` (None: nothing deployed) to ``new``."""
    new_reader = StackReader(new, new_nested)
    if deployed is None:
        flat = new_reader.resources()
        why = Reasons(Side({}, None), Side(flat, new), frozenset(), lambda *_: False)
        added = tuple(_change(r, why.added(r.ident)) for r in _sorted(flat.values()))
        return Verdict(False, (), ResourceChanges("create", added=added))
    old_reader = StackReader(deployed, deployed_nested)
    before = old_reader.resources()
    after = new_reader.resources(old_reader, before)
    diff = _Diff(old_reader, new_reader, before, after)
    reasons = _Simulation(before, after, diff.replaced).run()
    same_stack = old_reader.outputs() == new_reader.outputs() and _tags(deployed) == _tags(new)
    why = Reasons(Side(before, deployed), Side(after, new), diff.replaced, diff.differs)
    changes = diff.changes(same_stack, why)
    notes = access_notes(
        before,
        after,
        (c.logical_id for c in changes.added),
        (c.logical_id for c in changes.modified),
        (c.logical_id for c in changes.removed),
    )
    return Verdict(bool(reasons), tuple(reasons), changes, tuple(notes))


def _tags(template: Template) -> Any:
    """The user's stack tags, as synthesis records them: a change of them alone is an
    update (CloudFormation retags the stack's resources)."""
    meta = template.get("Metadata", {}).get(METADATA_KEY, {})
    return meta.get("tags", {}) if isinstance(meta, dict) else {}


def _change(resource: FlatResource, reason: str = "") -> ResourceChange:
    return ResourceChange(resource.ident, resource.type, reason)


def _sorted(resources: Any) -> list[FlatResource]:
    return sorted(resources, key=lambda r: r.ident)


class _Diff:
    """Added, replaced, modified and removed resources, with replacement cascades."""

    def __init__(
        self,
        old_reader: StackReader,
        new_reader: StackReader,
        before: Mapping[str, FlatResource],
        after: Mapping[str, FlatResource],
    ) -> None:
        self.old_reader = old_reader
        self.new_reader = new_reader
        self.before = before
        self.after = after
        self._replaced: dict[str, bool] = {}
        for ident in after:
            self.is_replaced(ident)
        self.replaced = frozenset(i for i, flag in self._replaced.items() if flag)

    def is_replaced(self, ident: str) -> bool:
        """Replaced: a create-only property changed, or points at a replaced resource.

        The cascade follows references (a method's resource, a resource's
        parent...), so it is as deep as a path is long: it runs on a stack of
        its own rather than Python's. A reference cycle cannot make itself
        replaced (a resource in progress counts as not replaced).
        """
        known = self._replaced.get(ident)
        if known is not None:
            return known
        self._replaced[ident] = False
        pending = [(ident, self._cascade_sources(ident))]
        while pending:
            current, sources = pending[-1]
            replaced, next_source = sources is None, None
            for source in sources or ():
                state = self._replaced.get(source)
                if state is None:
                    next_source = source
                    break
                if state:
                    replaced = True
                    break
            if next_source is not None and sources is not None:
                # decide the source first, then look at it again from here
                pending[-1] = (current, itertools.chain((next_source,), sources))
                self._replaced[next_source] = False
                pending.append((next_source, self._cascade_sources(next_source)))
                continue
            self._replaced[current] = replaced
            pending.pop()
        return self._replaced[ident]

    def _cascade_sources(self, ident: str) -> Iterator[str] | None:
        """None when the resource is replaced by its own change; else what it may follow."""
        old, new = self.before.get(ident), self.after[ident]
        if old is None:  # added: created, never replaced
            return iter(())
        names = create_only_properties(new.type)
        if old is not new and (
            old.type != new.type or any(self._value_differs(old, new, n) for n in names)
        ):
            return None
        return (i for name in names for i in new.referenced(name) if i in self.after)

    def differs(self, old: FlatResource, new: FlatResource, name: str) -> bool:
        """A different value, or the same reference to a resource that gets replaced."""
        return self._value_differs(old, new, name) or self._points_at_replaced(new, name)

    def _value_differs(self, old: FlatResource, new: FlatResource, name: str) -> bool:
        old_raw, new_raw = old.raw.get(name), new.raw.get(name)
        if old_raw == new_raw:
            return old.refs.get(name, ()) != new.refs.get(name, ())
        return self.old_reader.normalize(old.stack, old_raw) != self.new_reader.normalize(
            new.stack, new_raw
        )

    def _points_at_replaced(self, resource: FlatResource, name: str) -> bool:
        return any(i in self.after and self.is_replaced(i) for i in resource.referenced(name))

    def is_modified(self, ident: str) -> bool:
        old, new = self.before[ident], self.after[ident]
        if old is new and not self.replaced:
            return False
        if old.raw == new.raw and old.refs == new.refs:  # the common case, compared in C
            return any(
                i in self.after and self.is_replaced(i) for ids in new.idents.values() for i in ids
            )
        return any(self.differs(old, new, n) for n in set(old.raw) | set(new.raw))

    def changes(self, same_outputs: bool, why: Reasons) -> ResourceChanges:
        added, modified, replaced = [], [], []
        for resource in _sorted(self.after.values()):
            ident = resource.ident
            if ident not in self.before:
                added.append(_change(resource, why.added(ident)))
            elif ident in self.replaced:
                replaced.append(_change(resource, why.replaced_one(ident)))
            elif self.is_modified(ident):
                modified.append(_change(resource, why.modified(ident)))
        removed = [
            _change(r, why.removed(r.ident))
            for r in _sorted(self.before.values())
            if r.ident not in self.after
        ]
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
        self._depths_after: dict[str, int] = {}
        self._depths_before: dict[str, int] = {}

    def run(self) -> list[Reason]:
        for ident, resource in self.before.items():
            if resource.type == REST_API and ident in self.after:
                self.apis[ident] = _Api()
        created = [
            r
            for r in self.after.values()
            if r.type in (API_RESOURCE, API_METHOD)
            and (r.ident not in self.before or r.ident in self.replaced)
        ]
        self._load_old(self._neighbourhood(created))
        for resource in sorted(created, key=lambda r: (r.type == API_METHOD, self._depth(r))):
            self._create(resource)
        return self.reasons

    def _depth(self, resource: FlatResource) -> int:
        return _depth_in(self.after, self._depths_after, resource)

    def _neighbourhood(self, created: list[FlatResource]) -> list[FlatResource]:
        """The deployed API resources and methods the creations can meet.

        API Gateway's rules look at a new resource's parent only: its path
        part, its children and its methods. So the deployed APIs are rebuilt
        where something is created: each such parent with its ancestors, its
        children and its methods. (Planning a large app stays cheap.)
        """
        old = [r for r in self.before.values() if r.type in (API_RESOURCE, API_METHOD)]
        under: dict[Ref, list[FlatResource]] = {}
        for resource in old:
            parent = _parent_ref(resource)
            if parent is not None:
                under.setdefault(parent, []).append(resource)
        wanted: set[str] = set()
        for resource in created:
            parent = _parent_ref(resource)
            if parent is None or parent.ident in self.replaced:
                continue  # a new parent version has no deployed children
            wanted.update(r.ident for r in under.get(parent, ()))
            ident = parent.ident if parent.attribute is None else None
            while ident is not None and ident in self.before and ident not in wanted:
                wanted.add(ident)
                above = _parent_ref(self.before[ident])
                ident = above.ident if above is not None and above.attribute is None else None
        return [r for r in old if r.ident in wanted]

    def _load_old(self, old: list[FlatResource]) -> None:
        """The deployed APIs (the part given) as they are before the update."""
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
        return _depth_in(self.before, self._depths_before, resource)

    def _old_parent_id(self, api: _Api, resource: FlatResource) -> str | None:
        parent = _parent_ref(resource)
        if parent is None:
            return None
        if parent.attribute == "RootResourceId":
            return api.model.root_id
        return api.old_ids.get(parent.ident)

    def _api_of(self, resource: FlatResource) -> _Api | None:
        rest_api = resource.ref("RestApiId")
        if rest_api is None:
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
                parent, str(resource.raw.get("PathPart"))
            )
        else:
            api.model.put_method(parent, str(resource.raw.get("HttpMethod")), resource.ident)


def _parent_ref(resource: FlatResource) -> Ref | None:
    return resource.ref("ParentId" if resource.type == API_RESOURCE else "ResourceId")


def _depth_in(
    resources: Mapping[str, FlatResource], known: dict[str, int], resource: FlatResource
) -> int:
    """How many of a resource's ancestors ``resources`` holds; ``known`` remembers them.

    Each ancestor's depth is stored on the way, so a deep path costs one walk
    up, not one per resource on it.
    """
    chain: list[str] = []  # the parents not known yet, nearest first
    depth, parent = 0, _parent_ref(resource)
    while parent is not None and parent.attribute is None and parent.ident in resources:
        found = known.get(parent.ident)
        if found is not None:
            depth = found + 1
            break
        chain.append(parent.ident)
        parent = _parent_ref(resources[parent.ident])
    for ident in reversed(chain):
        known[ident] = depth
        depth += 1
    return depth


def _join(parent_path: str, part: str) -> str:
    return f"{parent_path.rstrip('/')}/{part}"


def _reason(
    model: ApiModel[str], resource: FlatResource, parent: str, error: ApiGatewayError
) -> Reason:
    under = model.path_of(parent)
    why = "CloudFormation creates the new one before it deletes the old one"
    if resource.type == API_METHOD:
        verb = str(resource.raw.get("HttpMethod"))
        return Reason(
            error.rule.value,
            under,
            error.message,
            f"recreating the {verb} method of {under} needs a new API: API Gateway allows one "
            f"method per verb on a resource, and {why}",
        )
    part = str(resource.raw.get("PathPart"))
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
    explained: tuple[str, ...] = ()  # what the changes mean for the app, in its words

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

    @property
    def notes(self) -> tuple[str, ...]:
        """What the changes mean, in the app's words: for callers (CORS, authorizers, API
        keys: read from the update in place, as a replacement builds the same API anew),
        then for its functions, schedules, queues and resources."""
        return (*self.verdict.notes, *self.explained)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "action": self.action,
            "notes": list(self.notes),
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
    with _collector_paused():
        return _build_plan(table, target, code_key, deployed)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while planning.

    A plan allocates hundreds of thousands of small acyclic objects while the
    deployed templates are alive; every full collection walks all of them, so
    planning a 5,000-route app cost 1.5-2x more with the collector running.
    Reference counting still frees everything; the collector resumes after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_plan(
    table: RouteTable, target: Target, code_key: str, deployed: DeployedTemplates | None
) -> Plan:
    old_template = deployed.template if deployed is not None else None
    old_nested = deployed.nested_templates if deployed is not None else {}
    current = current_rest_api_logical_id(old_template)
    in_place = synthesize(table, target, code_key, current or REST_API_BASE, deployed)
    verdict = analyze(old_template, old_nested, in_place.template, in_place.nested_by_logical_id)
    if not verdict.replace or current is None:
        notes = explain(verdict.changes, old_template, in_place.template)
        return Plan(target.environment, current, in_place, verdict, explained=tuple(notes))
    rotated = synthesize(table, target, code_key, next_rest_api_logical_id(current), deployed)
    after = analyze(old_template, old_nested, rotated.template, rotated.nested_by_logical_id)
    notes = explain(after.changes, old_template, rotated.template)
    return Plan(
        target.environment, current, in_place, verdict, rotated, after.changes, tuple(notes)
    )
