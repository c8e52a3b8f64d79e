"""Reading templates back: one flat view of a stack and its nested stacks.

Every resource gets an identity (``LogicalId`` in the main template,
``Page/LogicalId`` in a nested one), and every reference is resolved to an
identity: a parameter of a nested stack is followed to the value the main
template passes, and ``Fn::GetAtt Page.Outputs.X`` to the output's value
inside the page. Two templates can then be compared resource by resource,
across stacks, as CloudFormation would see them.

Speed matters (thousands of resources per plan): each property keeps its raw
value and the ordered references found in it. Two values are equal when the
raw values are equal and resolve to the same references; only values whose
raw text differs are normalized in full (:meth:`StackReader.normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from teal.template.types import Template

MAIN = ""
NESTED_STACK = "AWS::CloudFormation::Stack"
_NOTHING: frozenset[str] = frozenset()
_CONTAINERS = (dict, list)
_PLAIN = ("pseudo", "param")  # resolved leaves that point at no resource
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


@dataclass(frozen=True, slots=True)
class Ref:
    """A normalized reference to a resource (or one of its attributes)."""

    ident: str
    attribute: str | None = None


@dataclass(frozen=True, slots=True)
class FlatResource:
    ident: str
    logical_id: str
    stack: str  # MAIN or the logical id of the nested stack resource
    type: str
    raw: Mapping[str, Any]  # the properties as written
    refs: Mapping[str, tuple[Hashable, ...]]  # per property, its resolved references in order
    idents: Mapping[str, frozenset[str]]  # per property, the identities it points at
    depends_on: frozenset[str]  # identities this one needs first (refs and DependsOn)

    def referenced(self, name: str) -> frozenset[str]:
        """Identities a property points at."""
        return self.idents.get(name, frozenset())

    def ref(self, name: str) -> Ref | None:
        """The single reference a property is (``RestApiId``, ``ParentId``...), if it is one."""
        found = self.refs.get(name, ())
        return found[0] if len(found) == 1 and isinstance(found[0], Ref) else None


@lru_cache(maxsize=4096)
def sub_variables(text: str) -> tuple[str, ...]:
    return tuple(_SUB_VARIABLE.findall(text))


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
        self._refs: dict[tuple[str, str], Hashable] = {}
        self._atts: dict[tuple[str, str, str], Hashable] = {}

    def resources(
        self,
        earlier: StackReader | None = None,
        earlier_flat: Mapping[str, FlatResource] | None = None,
    ) -> dict[str, FlatResource]:
        """Every resource, flattened; pages that read exactly as in ``earlier`` are reused."""
        flat: dict[str, FlatResource] = {}
        by_stack: dict[str, list[FlatResource]] = {}
        for resource in (earlier_flat or {}).values():
            by_stack.setdefault(resource.stack, []).append(resource)
        for stack in self.templates:
            if stack != MAIN and stack not in self._resources(MAIN):
                continue  # a nested template no stack resource points at
            if earlier is not None and stack != MAIN and self._reads_as(earlier, stack):
                flat.update((r.ident, r) for r in by_stack.get(stack, ()))
                continue
            for logical_id, body in self._resources(stack).items():
                ident = identity(stack, logical_id)
                flat[ident] = self._flatten(stack, logical_id, body)
        return flat

    def _reads_as(self, earlier: StackReader, page: str) -> bool:
        """Whether a nested stack resolves exactly as it did: same template, same inputs.

        Its inputs are the parameters the main template passes, compared once
        resolved (a page's outputs may move while the ids they give stay).
        Main-stack resources they name keep their identity (a logical id), so
        a replacement there still cascades through the diff.
        """
        mine, theirs = self.templates.get(page), earlier.templates.get(page)
        stack = self._resources(MAIN).get(page)
        if mine is None or mine != theirs or stack is None:
            return False
        before = earlier._resources(MAIN).get(page)
        if stack != before:
            return False
        parameters: dict[str, Any] = stack.get("Properties", {}).get("Parameters", {})
        return all(
            self.normalize(MAIN, value) == earlier.normalize(MAIN, value)
            for value in parameters.values()
        )

    def outputs(self) -> Hashable:
        outputs = self.templates[MAIN].get("Outputs", {})
        return self.normalize(MAIN, {k: v.get("Value") for k, v in outputs.items()})

    def _resources(self, stack: str) -> dict[str, Any]:
        resources: dict[str, Any] = self.templates.get(stack, {}).get("Resources", {})
        return resources

    def _flatten(self, stack: str, logical_id: str, body: Mapping[str, Any]) -> FlatResource:
        raw: Mapping[str, Any] = body.get("Properties", {}) or {}
        refs: dict[str, tuple[Hashable, ...]] = {}
        idents: dict[str, frozenset[str]] = {}
        needs: set[str] = set()
        for name, value in raw.items():
            if not isinstance(value, _CONTAINERS):  # a literal: no references
                refs[name], idents[name] = (), _NOTHING
                continue
            found: list[Hashable] = []
            self._collect(stack, value, found)
            refs[name] = tuple(found)
            ids = set()
            for leaf in found:
                if isinstance(leaf, Ref):
                    ids.add(leaf.ident)
                elif isinstance(leaf, tuple) and leaf[0] not in _PLAIN:  # a composite value
                    ids.update(r.ident for r in refs_in(leaf))
            idents[name] = frozenset(ids)
            needs.update(ids)
        depends = body.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        needs.update(identity(stack, d) for d in depends)
        return FlatResource(
            identity(stack, logical_id),
            logical_id,
            stack,
            str(body.get("Type", "")),
            raw,
            refs,
            idents,
            frozenset(needs),
        )

    def _collect(self, stack: str, value: Any, out: list[Hashable]) -> None:
        """Append the resolved references inside a raw value, in order."""
        if type(value) is dict:
            if len(value) == 1:
                if "Ref" in value:
                    out.append(self._ref(stack, str(value["Ref"])))
                    return
                if "Fn::GetAtt" in value:
                    out.append(self._get_att(stack, value["Fn::GetAtt"]))
                    return
                if "Fn::Sub" in value:
                    self._collect_sub(stack, value["Fn::Sub"], out)
                    return
            for key in sorted(value):  # the same references whatever the key order
                self._collect(stack, value[key], out)
        elif type(value) is list:
            for item in value:
                self._collect(stack, item, out)

    def _collect_sub(self, stack: str, arg: Any, out: list[Hashable]) -> None:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        for name in sub_variables(text):
            if name in local:
                self._collect(stack, local[name], out)
            elif "." in name and not name.startswith("AWS::"):
                out.append(self._get_att(stack, name))
            else:
                out.append(self._ref(stack, name))

    def normalize(self, stack: str, value: Any) -> Hashable:
        if type(value) is dict:
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
        key = (stack, name)
        if key not in self._refs:
            self._refs[key] = self._resolve_ref(stack, name)
        return self._refs[key]

    def _resolve_ref(self, stack: str, name: str) -> Hashable:
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
        key = (stack, str(logical_id), str(attribute))
        if key not in self._atts:
            self._atts[key] = self._resolve_get_att(stack, str(logical_id), str(attribute))
        return self._atts[key]

    def _resolve_get_att(self, stack: str, logical_id: str, attribute: str) -> Hashable:
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
        for name in sub_variables(text):
            if name in local:
                values.append(self.normalize(stack, local[name]))
            elif "." in name and not name.startswith("AWS::"):
                values.append(self._get_att(stack, name))
            else:
                values.append(self._ref(stack, name))
        return ("sub", text, *values)
