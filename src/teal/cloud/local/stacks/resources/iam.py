"""AWS::IAM::Role: kept for its name and ARN; the local cloud enforces no policies."""

from __future__ import annotations

from teal.cloud.local.ids import random_id
from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    given_or_generated_name,
)
from teal.cloud.local.stacks.resources import _named as named

KIND = "iam-role"


class Role:
    type_name = "AWS::IAM::Role"
    properties = frozenset(
        {
            "RoleName",
            "AssumeRolePolicyDocument",
            "Policies",
            "ManagedPolicyArns",
            "Path",
            "Description",
            "MaxSessionDuration",
            "PermissionsBoundary",
            "Tags",
        }
    )
    required = frozenset({"AssumeRolePolicyDocument"})
    attributes = frozenset({"Arn", "RoleId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = given_or_generated_name(ctx, props, "RoleName", 64)
        named.claim(ctx.conn, KIND, name, props, f"Role with name {name} already exists.")
        return self._provisioned(ctx, name, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        named.replace_data(ctx.conn, KIND, current.physical_id, new)
        return self._provisioned(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        named.release(ctx.conn, KIND, current.physical_id)

    def _provisioned(self, ctx: ResourceContext, name: str, props: Properties) -> Provisioned:
        path = props.get("Path") or "/"
        arn = f"arn:aws:iam::{ctx.account_id}:role{path}{name}"
        return Provisioned(name, {"Arn": arn, "RoleId": "AROA" + random_id(17).upper()})
