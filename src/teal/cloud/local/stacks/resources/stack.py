"""AWS::CloudFormation::Stack: a nested stack, applied by the engine as a child stack.

The template is read from the artifact store: ``TemplateURL``'s path is the
artifact key, as with an S3 URL on AWS.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from teal.cloud.local.stacks.resources import (
    NestedOutcome,
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    require_str,
)
from teal.template.types import Template


def template_key(url: str) -> str:
    """The artifact key in ``https://<bucket>.s3.<region>.amazonaws.com/<key>``."""
    return urlparse(url).path.lstrip("/")


def _template(ctx: ResourceContext, props: Properties) -> Template:
    url = require_str(props, "TemplateURL")
    key = template_key(url)
    if not key or not ctx.store.has_artifact(key):
        raise ResourceFailed(
            f"TemplateURL must reference a valid S3 object to which you have access. ({url})"
        )
    try:
        template: Any = json.loads(ctx.store.read_artifact(key))
    except ValueError as exc:
        raise ResourceFailed(f"Template format error: {url} is not valid JSON: {exc}") from exc
    if not isinstance(template, dict):
        raise ResourceFailed(f"Template format error: {url} is not a JSON object")
    return template


def _parameters(props: Properties) -> dict[str, str]:
    given = props.get("Parameters") or {}
    if not isinstance(given, dict):
        raise ResourceFailed("Property Parameters must be a map")
    return {str(k): str(v) for k, v in given.items()}


def _provisioned(outcome: NestedOutcome) -> Provisioned:
    attributes = {f"Outputs.{name}": value for name, value in outcome.outputs.items()}
    return Provisioned(outcome.stack_id, attributes)


class NestedStack:
    type_name = "AWS::CloudFormation::Stack"
    properties = frozenset({"TemplateURL", "Parameters", "Tags", "TimeoutInMinutes"})
    required = frozenset({"TemplateURL"})
    attributes: frozenset[str] = frozenset()  # Outputs.<Name>, checked by the engine
    transactional = False

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        outcome = ctx.nested.create_child(
            ctx.stack_name, ctx.logical_id, _template(ctx, props), _parameters(props)
        )
        return _provisioned(outcome)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        outcome = ctx.nested.update_child(
            current.physical_id, _template(ctx, new), _parameters(new)
        )
        return _provisioned(outcome)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        ctx.nested.delete_child(current.physical_id)
