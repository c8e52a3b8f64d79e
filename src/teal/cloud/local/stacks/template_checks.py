"""A template checked before anything changes: sections, types, references, order.

Everything the local cloud does not support is refused here, as a
:class:`TemplateError` (a user error: nothing was changed), so the engine
never half-applies a template it cannot finish.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from teal.cloud.local.stacks.intrinsics import PSEUDO_PARAMETERS, TemplateError, references
from teal.cloud.local.stacks.resources import ResourceProvider
from teal.cloud.local.stacks.resources.registry import providers
from teal.runtime.errors import UserError
from teal.template.types import Template

TOP_LEVEL = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Resources", "Outputs"}
)
RESOURCE_KEYS = frozenset({"Type", "Properties", "DependsOn", "Metadata"})
PARAMETER_KEYS = frozenset({"Type", "Default", "Description", "AllowedValues"})
OUTPUT_KEYS = frozenset({"Value", "Description"})
NESTED_STACK = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class ResourceDecl:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: frozenset[str]


@dataclass(frozen=True)
class ParsedTemplate:
    template: Template
    parameters: Mapping[str, Mapping[str, Any]]
    resources: Mapping[str, ResourceDecl]
    outputs: Mapping[str, Any]
    waves: tuple[tuple[str, ...], ...]  # resources whose dependencies are all in earlier waves

    @property
    def order(self) -> list[str]:
        return [logical_id for wave in self.waves for logical_id in wave]

    def effective_parameters(self, given: Mapping[str, str], where: str) -> dict[str, str]:
        """Given values over defaults; CloudFormation's messages for missing or unknown ones."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise UserError(
                f"Parameters: {unknown} do not exist in the template",
                where=where,
                hint="pass only the parameters the template declares",
            )
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, spec in self.parameters.items():
            value = given.get(name, spec.get("Default"))
            if value is None:
                missing.append(name)
                continue
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(a) for a in allowed]:
                raise UserError(
                    f"Parameter '{name}' must be one of AllowedValues",
                    where=where,
                    hint=f"give {name} one of {[str(a) for a in allowed]}",
                )
            values[name] = str(value)
        if missing:
            raise UserError(
                f"Parameters: {missing} must have values",
                where=where,
                hint="pass a value for each, or give them a Default in the template",
            )
        return values


def _mapping(value: Any, what: str, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{what} must be a JSON object", where=where)
    return value


def _refuse_extra(keys: Any, allowed: frozenset[str], what: str, where: str) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise TemplateError(
            f"{what} uses {', '.join(extra)}, which the local cloud does not support "
            f"(supported: {', '.join(sorted(allowed))})",
            where=where,
        )


def parse_template(template: Template, where: str) -> ParsedTemplate:
    """Check ``template`` against what the local cloud supports and order its resources."""
    if not isinstance(template, dict):
        raise TemplateError("the template must be a JSON object", where=where)
    _refuse_extra(template, TOP_LEVEL, "the template", where)
    parameters = _parameters(_mapping(template.get("Parameters"), "Parameters", where), where)
    known = providers()
    raw_resources = _mapping(template.get("Resources"), "Resources", where)
    if not raw_resources:
        raise TemplateError("At least one Resources member must be defined.", where=where)
    resources = {
        logical_id: _resource(logical_id, body, known, where)
        for logical_id, body in raw_resources.items()
    }
    dependencies = {
        logical_id: _dependencies(decl, resources, parameters, known, where)
        for logical_id, decl in resources.items()
    }
    outputs = _outputs(
        _mapping(template.get("Outputs"), "Outputs", where), resources, parameters, known, where
    )
    return ParsedTemplate(template, parameters, resources, outputs, _waves(dependencies, where))


def _parameters(raw: Mapping[str, Any], where: str) -> dict[str, Mapping[str, Any]]:
    parsed: dict[str, Mapping[str, Any]] = {}
    for name, raw_spec in raw.items():
        spec = _mapping(raw_spec, f"Parameter {name}", where)
        _refuse_extra(spec, PARAMETER_KEYS, f"Parameter {name}", where)
        if spec.get("Type") != "String":
            raise TemplateError(
                f"Parameter {name} has Type {spec.get('Type')!r}; the local cloud supports String",
                where=where,
            )
        parsed[name] = spec
    return parsed


def _resource(
    logical_id: str, body: Any, known: Mapping[str, ResourceProvider], where: str
) -> ResourceDecl:
    label = f"{where}: resource {logical_id}"
    if not logical_id.isalnum():
        raise TemplateError(f"Resource name {logical_id} is non alphanumeric.", where=where)
    body = _mapping(body, f"Resource {logical_id}", where)
    _refuse_extra(body, RESOURCE_KEYS, f"Resource {logical_id}", where)
    type_name = body.get("Type")
    provider = known.get(type_name) if isinstance(type_name, str) else None
    if provider is None:
        raise TemplateError(
            f"Unrecognized resource type {type_name!r} for {logical_id}; the local cloud "
            f"supports {', '.join(sorted(known))}",
            where=where,
        )
    properties = _mapping(body.get("Properties"), f"{logical_id}.Properties", where)
    _refuse_extra(properties, provider.properties, f"{type_name} {logical_id}", where)
    missing = sorted(provider.required - set(properties))
    if missing:
        raise TemplateError(f"{logical_id} is missing required properties {missing}", where=label)
    depends_on = body.get("DependsOn", [])
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise TemplateError(
            f"DependsOn of {logical_id} must be a name or a list of names", where=where
        )
    return ResourceDecl(logical_id, type_name, properties, frozenset(depends_on))


def _check_reference(
    target: str,
    attribute: str | None,
    *,
    resources: Mapping[str, ResourceDecl],
    parameters: Mapping[str, Any],
    known: Mapping[str, ResourceProvider],
    where: str,
) -> str | None:
    """The resource a reference depends on (None for parameters), or a TemplateError."""
    if attribute is None:
        if target in parameters or target in PSEUDO_PARAMETERS:
            return None
        if target in resources:
            return target
        raise TemplateError(
            f"Unresolved resource dependencies [{target}] in the Resources block of the template",
            where=where,
        )
    decl = resources.get(target)
    if decl is None:
        raise TemplateError(
            f"Template error: instance of Fn::GetAtt references undefined resource {target}",
            where=where,
        )
    nested_output = decl.type == NESTED_STACK and attribute.startswith("Outputs.")
    if attribute not in known[decl.type].attributes and not nested_output:
        raise TemplateError(
            f"Template error: resource {target} does not support attribute type {attribute} "
            "in Fn::GetAtt",
            where=where,
        )
    return target


def _dependencies(
    decl: ResourceDecl,
    resources: Mapping[str, ResourceDecl],
    parameters: Mapping[str, Any],
    known: Mapping[str, ResourceProvider],
    where: str,
) -> frozenset[str]:
    found = set()
    for ref in references(dict(decl.properties), f"{where}: {decl.logical_id}.Properties"):
        target = _check_reference(
            ref.target,
            ref.attribute,
            resources=resources,
            parameters=parameters,
            known=known,
            where=where,
        )
        if target is not None:
            found.add(target)
    for target in decl.depends_on:
        if target not in resources:
            raise TemplateError(
                f"Unresolved resource dependencies [{target}] in the Resources block of "
                "the template",
                where=where,
            )
        found.add(target)
    return frozenset(found)


def _outputs(
    raw: Mapping[str, Any],
    resources: Mapping[str, ResourceDecl],
    parameters: Mapping[str, Any],
    known: Mapping[str, ResourceProvider],
    where: str,
) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for name, raw_body in raw.items():
        body = _mapping(raw_body, f"Output {name}", where)
        if "Export" in body:
            raise TemplateError(
                f"Output {name} has an Export; the local cloud does not support exports "
                "(teal's templates never need them)",
                where=where,
            )
        _refuse_extra(body, OUTPUT_KEYS, f"Output {name}", where)
        if "Value" not in body:
            raise TemplateError(f"Output {name} has no Value", where=where)
        for ref in references(body["Value"], f"{where}: Outputs.{name}"):
            _check_reference(
                ref.target,
                ref.attribute,
                resources=resources,
                parameters=parameters,
                known=known,
                where=where,
            )
        outputs[name] = body["Value"]
    return outputs


def _waves(dependencies: Mapping[str, frozenset[str]], where: str) -> tuple[tuple[str, ...], ...]:
    remaining = dict(dependencies)
    done: set[str] = set()
    waves: list[tuple[str, ...]] = []
    while remaining:
        ready = tuple(sorted(k for k, deps in remaining.items() if deps <= done))
        if not ready:
            raise TemplateError(
                f"Circular dependency between resources: {sorted(remaining)}", where=where
            )
        waves.append(ready)
        done.update(ready)
        for logical_id in ready:
            del remaining[logical_id]
    return tuple(waves)
