"""Resource types AWS has and the local cloud does not emulate: recorded, not created.

A [resources] template may hold any AWS type (a DynamoDB table, an S3
bucket...). The local cloud applies the types it implements; each other one
is recorded as a resource of the stack, with a physical id and the
attributes its provider schema says it has, so references to it resolve
and the stack is complete, but nothing is created: code that calls it from
a local function reaches AWS (with your credentials), or fails. The deploy
says which types these were (:mod:`teal.cloud.local.stacks.notes`), and its events
carry the reason.

``Ref`` gives the resource's name when its schema names it by a property the
template sets (``TableName``, ``BucketName``...), else a generated one;
``Arn`` attributes are ARNs of that name, other attributes the name too.
"""

from __future__ import annotations

from functools import cache

from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
)
from teal.rules.schemas import resource_schema

NOT_EMULATED = "not emulated by the local cloud: recorded, nothing created"


class NotEmulated:
    """The provider of one type the local cloud records without emulating it."""

    transactional = True

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        schema = resource_schema(type_name)
        read_only = {_attribute(p) for p in schema.get("readOnlyProperties", [])}
        self.properties = frozenset(schema.get("properties", {})) - read_only
        self.required = frozenset(schema.get("required", []))
        self.attributes = frozenset(read_only)
        identifiers = schema.get("primaryIdentifier", [])
        self._name_property = _attribute(identifiers[0]) if len(identifiers) == 1 else None

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        given = props.get(self._name_property) if self._name_property else None
        name = given if isinstance(given, str) and given else ctx.physical_name(64)
        return Provisioned(name, self._attributes(ctx, name))

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        """Nothing was created."""

    def _attributes(self, ctx: ResourceContext, name: str) -> dict[str, str]:
        _, service, kind = self.type_name.split("::")
        arn = f"arn:aws:{service.lower()}:{ctx.region}:{ctx.account_id}:{kind.lower()}/{name}"
        return {a: arn if a.endswith("Arn") else name for a in self.attributes}


def _attribute(pointer: str) -> str:
    """``/properties/Endpoint/Address`` -> ``Endpoint.Address``, as Fn::GetAtt names it."""
    return ".".join(pointer.split("/")[2:])


@cache
def not_emulated(type_name: str) -> NotEmulated:
    return NotEmulated(type_name)
