"""AWS::Logs::LogGroup: a name (handler output is kept by the workers, per function)."""

from __future__ import annotations

from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    given_or_generated_name,
)
from teal.cloud.local.stacks.resources import _named as named

KIND = "log-group"


class LogGroup:
    type_name = "AWS::Logs::LogGroup"
    properties = frozenset({"LogGroupName", "RetentionInDays", "Tags", "LogGroupClass"})
    required: frozenset[str] = frozenset()
    attributes = frozenset({"Arn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = given_or_generated_name(ctx, props, "LogGroupName", 512)
        named.claim(
            ctx.conn,
            KIND,
            name,
            props,
            f"Resource of type 'AWS::Logs::LogGroup' with identifier '{name}' already exists.",
        )
        return self._provisioned(ctx, name)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        named.replace_data(ctx.conn, KIND, current.physical_id, new)
        return self._provisioned(ctx, current.physical_id)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        named.release(ctx.conn, KIND, current.physical_id)

    def _provisioned(self, ctx: ResourceContext, name: str) -> Provisioned:
        return Provisioned(
            name, {"Arn": f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}:*"}
        )
