"""Why each resource of a plan changes: one sentence per added, changed, replaced or
removed resource, naming what it is in the app (a function, a route, a queue, the
API's stage...) and what changes about it.

The notes of :mod:`teal.plan.explain` single out what a user must know
(a queue that starts empty, a schedule that moves); these reasons account for
every line of the plan, which matters most when nothing in the project
changed and the templates differ because another release of teal wrote the
deployed one: each difference then still reads as what it does. A resource
type no rule here knows is named by its type and by what it belongs to (the
function or API it refers to), so a type a later teal writes is told too.

Pure: it reads the analysis's flat resources (nested stacks included) and the
metadata teal writes into the main templates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from teal.rules.schemas import create_only_properties
from teal.template.reading import FlatResource
from teal.template.synth import METADATA_KEY
from teal.template.types import Template

FUNCTION = "AWS::Lambda::Function"
REST_API = "AWS::ApiGateway::RestApi"
API_RESOURCE = "AWS::ApiGateway::Resource"
PRINCIPALS = {
    "apigateway.amazonaws.com": "API Gateway's permission to call",
    "events.amazonaws.com": "EventBridge's permission to run",
}
# properties whose change is best said in words of their own
PROPERTY_WORDS = {
    "Code": "its code",
    "MemorySize": "its memory",
    "Timeout": "its timeout",
    "Layers": "its layers",
    "VpcConfig": "its VPC",
    "ReservedConcurrentExecutions": "its reserved concurrency",
    "Policies": "its policy statements",
    "ManagedPolicyArns": "its managed policies",
    "AssumeRolePolicyDocument": "who may take it on",
    "Tags": "its tags",
}


# A function's alias and its versions: what invokers name in its place.
PUBLISHED_TYPES = frozenset({"AWS::Lambda::Alias", "AWS::Lambda::Version"})


class Side:
    """One template's flat resources, and what teal's metadata says of them."""

    def __init__(self, resources: Mapping[str, FlatResource], template: Template | None) -> None:
        self.resources = resources
        meta = (template or {}).get("Metadata", {}).get(METADATA_KEY, {})
        meta = meta if isinstance(meta, dict) else {}
        self.queues: Mapping[str, str] = meta.get("queues", {})
        self.extra: frozenset[str] = frozenset(meta.get("extra_resources", []))
        self._paths: dict[str, str] = {}
        self._owners: dict[str, list[str]] | None = None

    def function(self, ident: str) -> str:
        """An app function's name, from the variable teal gives it (else its id)."""
        resource = self.resources.get(ident)
        variables = _variables(resource.raw) if resource is not None else {}
        return str(variables.get("TEAL_FUNCTION") or ident)

    def functions_of(self, resource: FlatResource) -> list[str]:
        """The functions a resource refers to, or those that refer to it (a role, a log
        group), by name."""
        pointed = {i for ids in resource.idents.values() for i in ids}
        pointed |= {i for ident in pointed for i in self._published(ident)}
        found = [i for i in sorted(pointed) if self._is_function(i)]
        if not found:
            found = self._referrers().get(resource.ident, [])
        return sorted({self.function(i) for i in found})

    def _published(self, ident: str) -> set[str]:
        """What a function's alias or version refers to (the function): an invoker points
        at the alias, and means the function."""
        named = self.resources.get(ident)
        if named is None or named.type not in PUBLISHED_TYPES:
            return set()
        return {i for ids in named.idents.values() for i in ids}

    def path(self, ident: str) -> str:
        """An API resource's path, walked up its parents (memoized)."""
        if ident in self._paths:
            return self._paths[ident]
        chain, current = [], self.resources.get(ident)
        while current is not None and current.type == API_RESOURCE:
            chain.append(current)
            parent = current.ref("ParentId")
            if parent is None or parent.attribute is not None or parent.ident in self._paths:
                break
            current = self.resources.get(parent.ident)
        above = ""
        if chain:
            parent = chain[-1].ref("ParentId")
            if parent is not None and parent.attribute is None:
                above = self._paths.get(parent.ident, "")
        for resource in reversed(chain):
            above = f"{above.rstrip('/')}/{resource.raw.get('PathPart', '?')}"
            self._paths[resource.ident] = above
        return self._paths.get(ident, "/")

    def queue(self, ident: str) -> str:
        logical_id = ident.rsplit("/", 1)[-1]
        return str(self.queues.get(logical_id, logical_id))

    def _is_function(self, ident: str) -> bool:
        resource = self.resources.get(ident)
        return resource is not None and resource.type == FUNCTION

    def _referrers(self) -> dict[str, list[str]]:
        """What each resource is referred to by, among the functions (built once)."""
        if self._owners is None:
            self._owners = {}
            for resource in self.resources.values():
                if resource.type == FUNCTION:
                    for ids in resource.idents.values():
                        for ident in ids:
                            self._owners.setdefault(ident, []).append(resource.ident)
        return self._owners


def _variables(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    environment = raw.get("Environment")
    found = environment.get("Variables", {}) if isinstance(environment, dict) else {}
    return found if isinstance(found, dict) else {}


def subject(resource: FlatResource, side: Side) -> str:
    """What a resource is, in the app's words."""
    kind = resource.type
    if resource.ident in side.extra:
        return f"{resource.ident} ({kind}, from the [resources] template)"
    describe = _SUBJECTS.get(kind)
    if describe is not None:
        return describe(resource, side)
    owners = side.functions_of(resource)
    if owners:
        return f"{resource.logical_id} ({kind}) of function {', '.join(owners)}"
    if any(side.resources.get(i, resource).type == REST_API for i in _pointed(resource)):
        return f"{resource.logical_id} ({kind}) of the API"
    return f"{resource.logical_id} ({kind})"


def _pointed(resource: FlatResource) -> list[str]:
    return sorted({i for ids in resource.idents.values() for i in ids})


def _function_subject(resource: FlatResource, side: Side) -> str:
    return f"function {side.function(resource.ident)}"


def _role_subject(resource: FlatResource, side: Side) -> str:
    owners = side.functions_of(resource)
    return f"the role of function {', '.join(owners)}" if owners else "a role of teal's"


def _permission_subject(resource: FlatResource, side: Side) -> str:
    principal = str(resource.raw.get("Principal", ""))
    who = PRINCIPALS.get(principal, f"{principal}'s permission to call")
    return f"{who} function {', '.join(side.functions_of(resource)) or '?'}"


def _rule_subject(resource: FlatResource, side: Side) -> str:
    expression = resource.raw.get("ScheduleExpression", "?")
    return f"the schedule {expression} of function {', '.join(side.functions_of(resource))}"


def _mapping_subject(resource: FlatResource, side: Side) -> str:
    source = resource.ref("EventSourceArn")
    queue = (
        side.queue(source.ident) if source is not None else str(resource.raw.get("EventSourceArn"))
    )
    return f"function {', '.join(side.functions_of(resource))}'s consumer of queue {queue}"


def _method_subject(resource: FlatResource, side: Side) -> str:
    parent = resource.ref("ResourceId")
    path = side.path(parent.ident) if parent is not None and parent.attribute is None else "/"
    verb = str(resource.raw.get("HttpMethod", "?"))
    return f"the preflight of {path}" if verb == "OPTIONS" else f"the route {verb} {path}"


_SUBJECTS: dict[str, Callable[[FlatResource, Side], str]] = {
    FUNCTION: _function_subject,
    "AWS::IAM::Role": _role_subject,
    "AWS::Lambda::Permission": _permission_subject,
    "AWS::Events::Rule": _rule_subject,
    "AWS::Lambda::EventSourceMapping": _mapping_subject,
    "AWS::SQS::Queue": lambda r, side: f"queue {side.queue(r.ident)}",
    REST_API: lambda r, side: "the API",
    "AWS::ApiGateway::Deployment": lambda r, side: (
        "the API's deployment (the snapshot of its routes the stage serves)"
    ),
    "AWS::ApiGateway::Stage": lambda r, side: f"the stage {r.raw.get('StageName', '?')}",
    API_RESOURCE: lambda r, side: f"the API's path {side.path(r.ident)}",
    "AWS::ApiGateway::Method": _method_subject,
    "AWS::ApiGateway::Authorizer": lambda r, side: f"the authorizer {r.raw.get('Name', '?')}",
    "AWS::ApiGateway::GatewayResponse": lambda r, side: (
        f"API Gateway's own {r.raw.get('ResponseType', '?')} answers"
    ),
    "AWS::ApiGateway::ApiKey": lambda r, side: "the API key",
    "AWS::ApiGateway::UsagePlan": lambda r, side: "the usage plan of the API key",
    "AWS::ApiGateway::UsagePlanKey": lambda r, side: "the API key's place in its usage plan",
    "AWS::Logs::LogGroup": lambda r, side: "the environment's log group",
    "AWS::Lambda::Version": lambda r, side: (
        f"a published version of function {', '.join(side.functions_of(r))}"
    ),
    "AWS::Lambda::Alias": lambda r, side: (
        f"the alias {r.raw.get('Name', '?')} of function {', '.join(side.functions_of(r))} "
        "(what its invokers call)"
    ),
    "AWS::Lambda::LayerVersion": lambda r, side: (
        f"the dependency layer of function {', '.join(side.functions_of(r))}"
    ),
    "AWS::CloudFormation::Stack": lambda r, side: (
        f"the nested stack {r.logical_id} (a page of the API's paths and routes)"
    ),
}


class Reasons:
    """Says why each change of an update happens."""

    def __init__(
        self,
        before: Side,
        after: Side,
        replaced: frozenset[str],
        differs: Callable[[FlatResource, FlatResource, str], bool],
    ) -> None:
        self.before, self.after = before, after
        self.replaced = replaced
        self.differs = differs  # the analysis's own test of one property

    def added(self, ident: str) -> str:
        return f"{subject(self.after.resources[ident], self.after)} will be created"

    def removed(self, ident: str) -> str:
        return f"{subject(self.before.resources[ident], self.before)} will be deleted"

    def replaced_one(self, ident: str) -> str:
        old, new = self.before.resources[ident], self.after.resources[ident]
        what = subject(new, self.after)
        if old.type != new.type:
            return f"{what} will be replaced: it becomes a {new.type} (was {old.type})"
        changed = [n for n in sorted(create_only_properties(new.type)) if self.differs(old, new, n)]
        own = [n for n in changed if old.raw.get(n) != new.raw.get(n)]
        if own:
            return (
                f"{what} will be replaced (a new one, then the old one deleted): "
                f"{', '.join(own)} cannot change in place"
            )
        followed = sorted(
            i for n in changed for i in new.referenced(n) if i in self.replaced
        ) or sorted(i for i in _pointed(new) if i in self.replaced)
        return (
            f"{what} will be replaced (a new one, then the old one deleted): it belongs to "
            f"{', '.join(followed) or 'a resource'} that is replaced"
        )

    def modified(self, ident: str) -> str:
        old, new = self.before.resources[ident], self.after.resources[ident]
        names = sorted(n for n in {*old.raw, *new.raw} if self.differs(old, new, n))
        words = [_property_change(n, old.raw.get(n), new.raw.get(n)) for n in names]
        if not words:  # the same values, pointing at resources that are replaced
            followed = sorted(i for i in _pointed(new) if i in self.replaced)
            words = [f"it points at {', '.join(followed) or 'a resource'}, which is replaced"]
        return f"{subject(new, self.after)} changes in place: {'; '.join(words)}"


def _property_change(name: str, before: Any, after: Any) -> str:
    if name == "Environment":
        return _variables_change(_variables({name: before}), _variables({name: after}))
    words = PROPERTY_WORDS.get(name, name)
    if before is None:
        return f"{words} (new)"
    if after is None:
        return f"{words} (gone)"
    if isinstance(before, str | int | float | bool) and isinstance(after, str | int | float):
        return f"{words} {before} -> {after}"
    return words


def _variables_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    parts = []
    for words, names in (
        ("new variables", sorted(set(after) - set(before))),
        ("variables gone", sorted(set(before) - set(after))),
        ("variables changed", sorted(k for k in set(before) & set(after) if before[k] != after[k])),
    ):
        if names:
            parts.append(f"{words} {', '.join(names)}")
    return "; ".join(parts) or "what its variables point at"
