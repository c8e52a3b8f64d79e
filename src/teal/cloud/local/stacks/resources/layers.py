"""AWS::Lambda::LayerVersion: a published version, named by its ARN.

The local cloud keeps no layer content of its own: teal's dependency layer is
the folder the local cloud installs the dependencies in for the runtime's
Python, which the workers import (:mod:`teal.project.layers`). The resource
stands in the stack as on AWS, so the template, its references and the plan
are the same: a version is never changed, only replaced (every property of
it is create-only), and each replacement publishes a new ARN.
"""

from __future__ import annotations

from teal.cloud.local.stacks.resources import Properties, Provisioned, ResourceContext


class LayerVersion:
    type_name = "AWS::Lambda::LayerVersion"
    properties = frozenset(
        {
            "Content",
            "LayerName",
            "Description",
            "CompatibleRuntimes",
            "CompatibleArchitectures",
            "LicenseInfo",
        }
    )
    required = frozenset({"Content"})
    attributes = frozenset({"LayerVersionArn"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        given = props.get("LayerName")
        name = given if isinstance(given, str) and given else ctx.physical_name(64)
        arn = f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:layer:{name}:1"
        return Provisioned(arn, {"LayerVersionArn": arn})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return current  # every property is create-only: a change replaces the version

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        """Nothing is kept beside the stack's record."""
