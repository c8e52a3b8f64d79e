"""What a synthesized environment holds, as a set of facts that survive renaming.

A fact is a tuple ``(subject, path..., value)``: ``("Method /posts GET",
"AuthorizationType", "CUSTOM")``. Subjects are named by what a resource *is*
(its type and key properties: the path and verb of a method, the name of a
function, the function a role belongs to), never by its logical id, and every
reference inside a value is replaced by the subject it points at. So a fact
reads the same whether a method sits in the main template or in a nested page,
whether the Deployment's id (a hash of every route) changed, whether the
environment is ``blog-dev`` or ``blog-dev-pr7``, and whatever the code key.

What changes by design and carries no meaning of its own is left out: the
Deployment's description (the hash of the routes), the nested stacks'
template URLs and parameters (the layout of the pages), the metadata's page
numbers. Lists are sets here: an element is a fact of its own, keyed by its
name when it has one (``PolicyName``, ``Id``, ``StatusCode``, ``Key``), so a
policy added by one feature does not hide one added by another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Fact = tuple[str, ...]
Template = dict[str, Any]

NESTED_STACK = "AWS::CloudFormation::Stack"
# list elements keyed by one of their fields, so that their other fields stay apart
NAME_KEYS = ("PolicyName", "Id", "StatusCode", "Key")
# values that change with every route by design (a hash of them all)
# (and a function's published version: a hash of the function's properties)
CHANGING = {
    ("AWS::ApiGateway::Deployment", "Description"),
    ("AWS::Lambda::Version", "Description"),
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass
class _Scope:
    """One template of the flattened set: the main one, a nested page, or another stack."""

    name: str
    template: Template
    # for a nested page: the main scope, and the page's AWS::CloudFormation::Stack id
    parent: _Scope | None = None
    stack_id: str | None = None
    pages: dict[str, _Scope] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        found: dict[str, Any] = self.template.get("Resources", {})
        return found


def _other(kind: str, logical_id: str, props: dict[str, Any]) -> str:
    if kind == "AWS::Lambda::LayerVersion":
        # the dependency layer: one per API generation and architecture (the projects
        # read into facts have one architecture; its value is a fact of the layer's)
        return "LayerVersion"
    return f"{kind} {logical_id}"


class Facts:
    """Reads one stack's template (and its pages) into facts.

    ``replace``: strings standing for values that vary between projects that
    mean the same (the environment's name, the code key), each with the word
    facts show instead; an exact value in ``exact`` is replaced only when a
    whole string is that value (the RestApi's logical id).
    """

    def __init__(
        self,
        prefix: str,
        template: Template,
        nested: Mapping[str, Template],
        replace: tuple[tuple[str, str], ...] = (),
        exact: Mapping[str, str] | None = None,
    ) -> None:
        self.prefix = prefix
        self.replace = replace
        self.exact = dict(exact or {})
        self.main = _Scope("main", template)
        for stack_id, page in nested.items():
            self.main.pages[stack_id] = _Scope(stack_id, page, self.main, stack_id)
        self._identities: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ values

    def text(self, value: str) -> str:
        if value in self.exact:
            return self.exact[value]
        for actual, word in self.replace:
            value = value.replace(actual, word)
        return value

    def resolve(self, scope: _Scope, value: Any) -> Any:
        """The value with every reference replaced by the subject it names."""
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return self._ref(scope, str(value["Ref"]))
            if set(value) == {"Fn::GetAtt"}:
                target = value["Fn::GetAtt"]
                name, attribute = target if isinstance(target, list) else target.split(".", 1)
                return self._get_att(scope, str(name), str(attribute))
            if set(value) == {"Fn::Sub"}:
                return self._sub(scope, value["Fn::Sub"])
            return {key: self.resolve(scope, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(scope, item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _ref(self, scope: _Scope, name: str) -> Any:
        if name in scope.resources:
            return f"<{self.identity(scope, name)}>"
        if scope.parent is not None and name in scope.template.get("Parameters", {}):
            stack = scope.parent.resources[str(scope.stack_id)]
            return self.resolve(scope.parent, stack["Properties"]["Parameters"][name])
        if name.startswith("AWS::") or name in scope.template.get("Parameters", {}):
            return f"{{{name}}}"
        raise AssertionError(f"{scope.name}: Ref to {name}, which the template does not have")

    def _get_att(self, scope: _Scope, name: str, attribute: str) -> Any:
        if name in scope.pages and attribute.startswith("Outputs."):
            page = scope.pages[name]
            output = page.template.get("Outputs", {}).get(attribute.removeprefix("Outputs."))
            assert output is not None, f"page {name} has no output {attribute}"
            return self.resolve(page, output["Value"])
        if name not in scope.resources:
            raise AssertionError(f"{scope.name}: GetAtt of {name}, which the template lacks")
        return f"<{self.identity(scope, name)}>.{attribute}"

    def _sub(self, scope: _Scope, body: Any) -> Any:
        text, variables = (body, {}) if isinstance(body, str) else (body[0], body[1])
        local = {key: self.resolve(scope, value) for key, value in variables.items()}

        def swap(found: re.Match[str]) -> str:
            name, _, attribute = found.group(1).partition(".")
            if name in local or name.startswith("AWS::"):
                return found.group(0)
            value = self._get_att(scope, name, attribute) if attribute else self._ref(scope, name)
            return value if isinstance(value, str) else canonical(value)

        swapped = self.text(_SUB_VARIABLE.sub(swap, text))
        return {"Fn::Sub": [swapped, local]} if local else {"Fn::Sub": swapped}

    # ------------------------------------------------------------------ subjects

    def identity(self, scope: _Scope, logical_id: str) -> str:
        """What the resource is: its type and key properties, with no logical id in it
        (except for resources that have no key of their own, such as queues)."""
        key = (scope.name, logical_id)
        if key not in self._identities:
            kind = scope.resources[logical_id]["Type"]
            own = (
                self._of_function(scope, kind, scope.resources[logical_id].get("Properties", {}))
                if kind in ("AWS::Lambda::Version", "AWS::Lambda::Alias")
                else self._identity(scope, logical_id)
            )
            self._identities[key] = self.prefix + own
        return self._identities[key]

    def _identity(self, scope: _Scope, logical_id: str) -> str:
        body = scope.resources[logical_id]
        kind: str = body["Type"]
        props: dict[str, Any] = body.get("Properties", {})
        short = kind.rsplit("::", maxsplit=1)[-1]
        match kind:
            case "AWS::ApiGateway::Resource":
                return f"Resource {self._path_of(scope, props['ParentId'], props['PathPart'])}"
            case "AWS::ApiGateway::Method":
                return f"Method {self._path_of(scope, props['ResourceId'])} {props['HttpMethod']}"
            case "AWS::Lambda::Function" if "FunctionName" in props:
                return f"Function {self.text(props['FunctionName'])}"
            case "AWS::IAM::Role":
                return self._role(scope, logical_id)
            case "AWS::Lambda::Permission":
                parts = [props["FunctionName"], props["Principal"], props.get("SourceArn")]
                return f"Permission {canonical(self.resolve(scope, parts))}"
            case "AWS::Events::Rule":
                targets = canonical(self.resolve(scope, props.get("Targets")))
                return f"Rule {props.get('ScheduleExpression')} {targets}"
            case "AWS::Lambda::EventSourceMapping":
                parts = [props["FunctionName"], props["EventSourceArn"]]
                return f"Mapping {canonical(self.resolve(scope, parts))}"
            case "AWS::ApiGateway::Authorizer":
                return f"Authorizer {props['Name']}"
            case "AWS::ApiGateway::GatewayResponse":
                return f"GatewayResponse {props['ResponseType']}"
            case "AWS::Logs::LogGroup" if "LogGroupName" in props:
                return f"LogGroup {self.text(props['LogGroupName'])}"
            case (
                "AWS::ApiGateway::RestApi"
                | "AWS::ApiGateway::Deployment"
                | "AWS::ApiGateway::Stage"
                | "AWS::ApiGateway::ApiKey"
                | "AWS::ApiGateway::UsagePlan"
                | "AWS::ApiGateway::UsagePlanKey"
            ):
                return short  # one of each per API
            case _:
                return _other(kind, logical_id, props)

    def _of_function(self, scope: _Scope, kind: str, props: dict[str, Any]) -> str:
        """A version or an alias, named by its function (a version's id carries a hash)."""
        function = self.resolve(scope, props["FunctionName"])
        if kind == "AWS::Lambda::Version":
            return f"Version of {function}"
        return f"Alias {props['Name']} of {function}"

    def _path_of(self, scope: _Scope, parent: Any, part: str | None = None) -> str:
        where = self.resolve(scope, parent)
        head = "" if str(where).endswith(".RootResourceId") else str(where)[len("<Resource ") : -1]
        if self.prefix and head.startswith(self.prefix):
            head = head.removeprefix(self.prefix)
        if part is None:
            return head or "/"
        return f"{head}/{part}"

    def _role(self, scope: _Scope, logical_id: str) -> str:
        owners = [
            self.identity(scope, other)
            for other, body in scope.resources.items()
            if body["Type"] == "AWS::Lambda::Function"
            and body.get("Properties", {}).get("Role") == {"Fn::GetAtt": [logical_id, "Arn"]}
        ]
        if len(owners) != 1:
            return f"AWS::IAM::Role {logical_id}"
        return f"Role of {owners[0].removeprefix(self.prefix)}"

    # ------------------------------------------------------------------ facts

    def facts(self) -> set[Fact]:
        found: set[Fact] = set()
        subjects: dict[str, str] = {}
        for scope in [self.main, *self.main.pages.values()]:
            for logical_id, body in scope.resources.items():
                if body["Type"] == NESTED_STACK and logical_id in self.main.pages:
                    found.add((f"{self.prefix}template", "API methods in nested stacks", "yes"))
                    continue
                subject = self.identity(scope, logical_id)
                where = f"{scope.name}/{logical_id}"
                other = subjects.setdefault(subject, where)
                assert other == where, f"{other} and {where} are both {subject}"
                found |= self._resource_facts(scope, logical_id, subject)
        template = self.main.template
        for name, output in template.get("Outputs", {}).items():
            value = self.resolve(self.main, output["Value"])
            found |= {(f"{self.prefix}output {name}", *p) for p in leaves(value)}
        for name, parameter in template.get("Parameters", {}).items():
            found |= {(f"{self.prefix}parameter {name}", *p) for p in leaves(parameter)}
        metadata = dict(template.get("Metadata", {}).get("teal", {}))
        metadata.pop("pages", None)  # which page a path is on: the layout, not the app
        found |= {(f"{self.prefix}metadata", *p) for p in leaves(self.resolve(self.main, metadata))}
        if "Description" in template:
            found.add((f"{self.prefix}template", "Description", self.text(template["Description"])))
        return found

    def _resource_facts(self, scope: _Scope, logical_id: str, subject: str) -> set[Fact]:
        body = scope.resources[logical_id]
        kind = body["Type"]
        found: set[Fact] = {(subject, "Type", kind)}
        props = {
            key: value
            for key, value in body.get("Properties", {}).items()
            if (kind, key) not in CHANGING
        }
        found |= {(subject, *p) for p in leaves(self.resolve(scope, props))}
        depends = body.get("DependsOn", [])
        for name in [depends] if isinstance(depends, str) else depends:
            found |= {(subject, "DependsOn", d) for d in self._dependency(scope, name)}
        return found

    def _dependency(self, scope: _Scope, name: str) -> Iterator[str]:
        """A dependency's subject; a nested page stands for everything in it."""
        if scope is self.main and name in self.main.pages:
            page = self.main.pages[name]
            yield from (self.identity(page, other) for other in page.resources)
        else:
            yield self.identity(scope, name)


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[Fact]:
    """``(path..., scalar)`` for every leaf; list elements are facts of their own."""
    if isinstance(value, dict):
        if not value:
            yield (*path, "{}")
        for key, item in value.items():
            yield from leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        if not value:
            yield (*path, "[]")
        for item in value:
            named = next((k for k in NAME_KEYS if isinstance(item, dict) and k in item), None)
            if named is not None:
                yield from leaves(item, (*path, f"[{named}={item[named]}]"))
            elif isinstance(item, dict | list):
                yield (*path, "[]", canonical(item))
            else:
                yield (*path, "[]", str(item))
    else:
        yield (*path, str(value))
