"""AWS::ApiGateway::RestApi, Resource, Method, Deployment and Stage providers.

API Gateway's refusals (:class:`teal.apigw.ApiGatewayError`) become the
failed event's reason exactly as CloudFormation words them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from teal.apigw import ApiGatewayError
from teal.cloud.local import apigateway as service
from teal.cloud.local.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    require_str,
)
from teal.cloud.local.store import bump_generation

T = TypeVar("T")


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn API Gateway's refusals into the stack event's reason."""
    try:
        yield
    except ApiGatewayError as exc:
        raise ResourceFailed(exc.as_stack_reason()) from exc


def _ignore_missing(action: Callable[[], T]) -> None:
    """Deleting what is already gone succeeds, as CloudFormation treats a 404 on delete."""
    try:
        action()
    except ApiGatewayError as exc:
        if exc.code != "NotFoundException":
            raise ResourceFailed(exc.as_stack_reason()) from exc


class RestApi:
    type_name = "AWS::ApiGateway::RestApi"
    properties = frozenset(
        {"Name", "Description", "EndpointConfiguration", "BinaryMediaTypes", "Tags", "Policy"}
    )
    required = frozenset({"Name"})
    attributes = frozenset({"RootResourceId", "RestApiId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name, types = require_str(props, "Name"), _binary_media_types(props)
        api_id, root_id = service.create_api(ctx.conn, name, types)
        return Provisioned(api_id, {"RootResourceId": root_id, "RestApiId": api_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        api_id = current.physical_id
        with api_errors():
            service.rename_api(ctx.conn, api_id, require_str(new, "Name"))
            types = _binary_media_types(new)
            # As on AWS, an update that drops BinaryMediaTypes or empties the list leaves
            # the API's list as it was: CloudFormation only patches in the types it is given.
            if types:
                service.set_binary_media_types(ctx.conn, api_id, types)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        with api_errors():
            service.delete_api(ctx.conn, current.physical_id)


def _binary_media_types(props: Properties) -> list[str]:
    value = props.get("BinaryMediaTypes") or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ResourceFailed(f"Property BinaryMediaTypes must be a list of strings (got {value!r})")
    return list(value)


class Resource:
    type_name = "AWS::ApiGateway::Resource"
    properties = frozenset({"RestApiId", "ParentId", "PathPart"})
    required = properties
    attributes = frozenset({"ResourceId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        parent, part = require_str(props, "ParentId"), require_str(props, "PathPart")
        api_id = require_str(props, "RestApiId")
        with api_errors():
            resource_id = service.create_resource(ctx.conn, api_id, parent, part)
        return Provisioned(resource_id, {"ResourceId": resource_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return current  # every property is create-only: the engine replaces instead

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        api_id, resource_id = require_str(props, "RestApiId"), current.physical_id
        _ignore_missing(lambda: service.delete_resource(ctx.conn, api_id, resource_id))


def _method_payload(props: Properties) -> service.MethodPayload:
    integration: dict[str, Any] = props.get("Integration") or {}
    uri = integration.get("Uri")
    return {
        "type": integration.get("Type"),
        "uri": uri,
        "function_arn": service.function_arn_of_uri(uri)
        if integration.get("Type") == "AWS_PROXY"
        else None,
    }


class Method:
    type_name = "AWS::ApiGateway::Method"
    properties = frozenset(
        {
            "RestApiId",
            "ResourceId",
            "HttpMethod",
            "AuthorizationType",
            "Integration",
            "ApiKeyRequired",
            "OperationName",
            "MethodResponses",
            "RequestParameters",
        }
    )
    required = frozenset({"RestApiId", "ResourceId", "HttpMethod"})
    attributes: frozenset[str] = frozenset()
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        api_id, resource_id = require_str(props, "RestApiId"), require_str(props, "ResourceId")
        verb = require_str(props, "HttpMethod").upper()
        payload = _method_payload(props)
        with api_errors():
            service.put_method(ctx.conn, api_id, resource_id, verb, payload)
        return Provisioned(f"{api_id}|{resource_id}|{verb}")

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        api_id, resource_id = require_str(new, "RestApiId"), require_str(new, "ResourceId")
        verb = require_str(new, "HttpMethod").upper()
        payload = _method_payload(new)
        with api_errors():
            service.update_method(ctx.conn, api_id, resource_id, verb, payload)
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        api_id, resource_id = require_str(props, "RestApiId"), require_str(props, "ResourceId")
        verb = require_str(props, "HttpMethod")
        _ignore_missing(lambda: service.delete_method(ctx.conn, api_id, resource_id, verb))


class Deployment:
    type_name = "AWS::ApiGateway::Deployment"
    properties = frozenset({"RestApiId", "Description"})
    required = frozenset({"RestApiId"})
    attributes = frozenset({"DeploymentId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        with api_errors():
            deployment_id = service.create_deployment(ctx.conn, require_str(props, "RestApiId"))
        return Provisioned(deployment_id, {"DeploymentId": deployment_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return current  # only the description changes; the snapshot stays

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        api_id = require_str(props, "RestApiId")
        _ignore_missing(lambda: service.delete_deployment(ctx.conn, api_id, current.physical_id))


class Stage:
    type_name = "AWS::ApiGateway::Stage"
    properties = frozenset(
        {
            "RestApiId",
            "StageName",
            "DeploymentId",
            "Variables",
            "Description",
            "MethodSettings",
            "TracingEnabled",
            "Tags",
        }
    )
    required = frozenset({"RestApiId", "StageName", "DeploymentId"})
    attributes: frozenset[str] = frozenset()
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        return self._put(ctx, props, create=True)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return self._put(ctx, new, create=False)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        with api_errors():
            service.delete_stage(ctx.conn, require_str(props, "RestApiId"), current.physical_id)

    def _put(self, ctx: ResourceContext, props: Properties, *, create: bool) -> Provisioned:
        name = require_str(props, "StageName")
        variables = {str(k): str(v) for k, v in (props.get("Variables") or {}).items()}
        with api_errors():
            service.put_stage(
                ctx.conn,
                require_str(props, "RestApiId"),
                name,
                require_str(props, "DeploymentId"),
                variables,
                create=create,
            )
        bump_generation(ctx.conn)
        return Provisioned(name)
