"""Reading templates back: one flat view of a stack and its nested stacks.

Every resource gets an identity (``LogicalId`` in the main template,
``Page/LogicalId`` in a nested one), and every property value is normalized
so that references point at identities: a parameter of a nested stack is
followed to the value the main template passes, and ``Fn::GetAtt
Page.Outputs.X`` to the output's value inside the page. Two templates can
then be compared resource by resource, across stacks, as CloudFormation
would see them.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Template = dict[str, Any]
MAIN = ""
NESTED_STACK = "AWS::CloudFormation::Stack"
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


@dataclass(frozen=True)
class Ref:
    """A normalized reference to a resource (or one of its attributes)."""

    ident: str
    attribute: str | None = None


@dataclass(frozen=True)
class FlatResource:
    ident: str
    logical_id: str
    stack: str  # MAIN or the logical id of the nested stack resource
    type: str
    properties: Mapping[str, Hashable]  # normalized
    depends_on: frozenset[str]  # identities this one needs first (refs and DependsOn)


def identity(stack: str, logical_id: str) -> str:
    return logical_id if stack == MAIN else f"{stack}/{logical_id}"


def refs_in(value: Hashable) -> Iterator[Ref]:
    """Every reference inside a normalized value."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from refs_in(item)


class StackReader:
    """Normalizes the values of one main template and its nested templates."""

    def __init__(self, main: Template, nested: Mapping[str, Template]) -> None:
        self.templates: dict[str, Template] = {MAIN: main, **nested}

    def resources(self) -> dict[str, FlatResource]:
        flat: dict[str, FlatResource] = {}
        for stack in self.templates:
            if stack != MAIN and stack not in self._resources(MAIN):
                continue  # a nested template no stack resource points at
            for logical_id, body in self._resources(stack).items():
                ident = identity(stack, logical_id)
                flat[ident] = self._flatten(stack, logical_id, body)
        return flat

    def outputs(self) -> Hashable:
        outputs = self.templates[MAIN].get("Outputs", {})
        return self.normalize(MAIN, {k: v.get("Value") for k, v in outputs.items()})

    def _resources(self, stack: str) -> dict[str, Any]:
        resources: dict[str, Any] = self.templates.get(stack, {}).get("Resources", {})
        return resources

    def _flatten(self, stack: str, logical_id: str, body: Mapping[str, Any]) -> FlatResource:
        raw = body.get("Properties", {}) or {}
        properties = {name: self.normalize(stack, value) for name, value in raw.items()}
        depends = body.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        needs = {r.ident for v in properties.values() for r in refs_in(v)}
        needs.update(identity(stack, d) for d in depends)
        return FlatResource(
            identity(stack, logical_id),
            logical_id,
            stack,
            str(body.get("Type", "")),
            properties,
            frozenset(needs),
        )

    def normalize(self, stack: str, value: Any) -> Hashable:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                match key:
                    case "Ref":
                        return self._ref(stack, str(arg))
                    case "Fn::GetAtt":
                        return self._get_att(stack, arg)
                    case "Fn::Sub":
                        return self._sub(stack, arg)
            return tuple(sorted((k, self.normalize(stack, v)) for k, v in value.items()))
        if isinstance(value, list):
            return ("[]", *(self.normalize(stack, v) for v in value))
        return value  # type: ignore[no-any-return]

    def _ref(self, stack: str, name: str) -> Hashable:
        if name.startswith("AWS::"):
            return ("pseudo", name)
        if name in self._resources(stack):
            return Ref(identity(stack, name))
        if stack != MAIN:
            passed = self._resources(MAIN).get(stack, {}).get("Properties", {})
            if name in passed.get("Parameters", {}):
                return self.normalize(MAIN, passed["Parameters"][name])
        return ("param", stack, name)

    def _get_att(self, stack: str, arg: Any) -> Hashable:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        body = self._resources(stack).get(logical_id, {})
        if body.get("Type") == NESTED_STACK and str(attribute).startswith("Outputs."):
            nested_id = identity(stack, logical_id)
            output = self.templates.get(nested_id, {}).get("Outputs", {})
            name = str(attribute).removeprefix("Outputs.")
            if name in output:
                return self.normalize(nested_id, output[name].get("Value"))
        return Ref(identity(stack, logical_id), str(attribute))

    def _sub(self, stack: str, arg: Any) -> Hashable:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values: list[Hashable] = []
        for name in _SUB_VARIABLE.findall(text):
            if name in local:
                values.append(self.normalize(stack, local[name]))
            elif "." in name and not name.startswith("AWS::"):
                values.append(self._get_att(stack, name))
            else:
                values.append(self._ref(stack, name))
        return ("sub", text, *values)
