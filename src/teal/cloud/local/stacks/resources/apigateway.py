"""AWS::ApiGateway::RestApi, Resource, Method, Deployment and Stage providers, and
those of access: Authorizer, GatewayResponse, ApiKey, UsagePlan and UsagePlanKey.

API Gateway's refusals (:class:`teal.rules.apigateway.ApiGatewayError`) become the
failed event's reason exactly as CloudFormation words them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from teal.cloud.local.gateway import rest_apis as service
from teal.cloud.local.stacks.resources import (
    Properties,
    Provisioned,
    ResourceContext,
    ResourceFailed,
    optional_int,
    require_str,
)
from teal.cloud.local.store import bump_generation
from teal.rules.apigateway import ApiGatewayError

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
        api_id, root_id = service.create_api(ctx.conn, name, ctx.region, types)
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
    """What the API keeps of a method: its integration, who may call it, and for a MOCK
    integration the answer it gives (access keys only when set)."""
    integration: dict[str, Any] = props.get("Integration") or {}
    uri = integration.get("Uri")
    payload: service.MethodPayload = {
        "type": integration.get("Type"),
        "uri": uri,
        "function_arn": service.function_arn_of_uri(uri)
        if integration.get("Type") == "AWS_PROXY"
        else None,
    }
    authorization = str(props.get("AuthorizationType") or "NONE")
    if authorization != "NONE":
        payload["authorization"] = authorization
    if props.get("AuthorizerId"):
        payload["authorizer_id"] = str(props["AuthorizerId"])
    if props.get("ApiKeyRequired") in (True, "true", "True"):
        payload["api_key_required"] = True
    if integration.get("Type") == "MOCK":
        payload["mock"] = _mock_answer(integration)
    return payload


def _mock_answer(integration: dict[str, Any]) -> dict[str, Any]:
    """A MOCK integration's answer: the status its request template names (200 without
    one), the integration response selected for it, and that response's fixed headers."""
    template = (integration.get("RequestTemplates") or {}).get("application/json")
    try:
        status = int(json.loads(template).get("statusCode", 200)) if template else 200
    except (ValueError, AttributeError, TypeError):
        status = 200  # a template with logic in it: the local cloud does not run templates
    responses: list[dict[str, Any]] = integration.get("IntegrationResponses") or []
    chosen = next(
        (r for r in responses if _selects(r.get("SelectionPattern"), str(status))), None
    ) or next((r for r in responses if not r.get("SelectionPattern")), None)
    if chosen is None:
        return {"status": 500, "headers": []}
    return {"status": int(chosen.get("StatusCode", 200)), "headers": _static_headers(chosen)}


def _selects(pattern: Any, status: str) -> bool:
    return isinstance(pattern, str) and bool(pattern) and re.fullmatch(pattern, status) is not None


def _static_headers(
    response: dict[str, Any], prefix: str = "method.response.header."
) -> list[list[str]]:
    """The headers a response sets to fixed values (``'value'``); mapped ones need a
    request or an integration's answer, which a MOCK integration has none of."""
    return [
        [name.removeprefix(prefix), value[1:-1]]
        for name, value in (response.get("ResponseParameters") or {}).items()
        if name.startswith(prefix) and _is_static(value)
    ]


def _is_static(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"


class Method:
    type_name = "AWS::ApiGateway::Method"
    properties = frozenset(
        {
            "RestApiId",
            "ResourceId",
            "HttpMethod",
            "AuthorizationType",
            "AuthorizerId",
            "AuthorizationScopes",
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


# ---------------------------------------------------------------- access


AUTHORIZER_TYPES = ("TOKEN", "REQUEST", "COGNITO_USER_POOLS")
# The gateway responses a RestApi can customize (API Gateway's list).
GATEWAY_RESPONSE_TYPES = frozenset(
    {
        "ACCESS_DENIED",
        "API_CONFIGURATION_ERROR",
        "AUTHORIZER_CONFIGURATION_ERROR",
        "AUTHORIZER_FAILURE",
        "BAD_REQUEST_PARAMETERS",
        "BAD_REQUEST_BODY",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "EXPIRED_TOKEN",
        "INTEGRATION_FAILURE",
        "INTEGRATION_TIMEOUT",
        "INVALID_API_KEY",
        "INVALID_SIGNATURE",
        "MISSING_AUTHENTICATION_TOKEN",
        "QUOTA_EXCEEDED",
        "REQUEST_TOO_LARGE",
        "RESOURCE_NOT_FOUND",
        "THROTTLED",
        "UNAUTHORIZED",
        "UNSUPPORTED_MEDIA_TYPE",
        "WAF_FILTERED",
    }
)


def _authorizer_spec(props: Properties) -> dict[str, Any]:
    """An authorizer as the API keeps it (see :class:`teal.cloud.local.model.AuthorizerSpec`)."""
    kind = require_str(props, "Type")
    if kind not in AUTHORIZER_TYPES:
        raise ResourceFailed(
            f"1 validation error detected: Value '{kind}' at 'type' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(AUTHORIZER_TYPES)}]"
        )
    sources = [s.strip() for s in str(props.get("IdentitySource") or "").split(",") if s.strip()]
    uri = props.get("AuthorizerUri")
    if kind != "REQUEST" and not sources:
        raise ResourceFailed(f"Identity source must be specified for {kind} authorizers")
    if kind != "COGNITO_USER_POOLS" and service.function_arn_of_uri(uri) is None:
        raise ResourceFailed(f"Invalid Authorizer URI: {uri}")
    providers = props.get("ProviderARNs") or []
    if kind == "COGNITO_USER_POOLS" and not providers:
        raise ResourceFailed("ProviderARNs must be specified for COGNITO_USER_POOLS authorizers")
    return {
        "name": require_str(props, "Name"),
        "type": kind,
        "function_arn": service.function_arn_of_uri(uri),
        "identity_sources": sources,
        "ttl_s": optional_int(props, "AuthorizerResultTtlInSeconds", 300),
        "validation": props.get("IdentityValidationExpression"),
        "provider_arns": [str(arn) for arn in providers],
    }


class Authorizer:
    type_name = "AWS::ApiGateway::Authorizer"
    properties = frozenset(
        {
            "Name",
            "RestApiId",
            "Type",
            "AuthorizerUri",
            "AuthorizerCredentials",
            "AuthorizerResultTtlInSeconds",
            "AuthType",
            "IdentitySource",
            "IdentityValidationExpression",
            "ProviderARNs",
        }
    )
    required = frozenset({"Name", "RestApiId", "Type"})
    attributes = frozenset({"AuthorizerId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        api_id = require_str(props, "RestApiId")
        with api_errors():
            authorizer_id = service.create_authorizer(ctx.conn, api_id, _authorizer_spec(props))
        return Provisioned(authorizer_id, {"AuthorizerId": authorizer_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        api_id = require_str(new, "RestApiId")
        service.update_authorizer(ctx.conn, api_id, current.physical_id, _authorizer_spec(new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        service.delete_authorizer(ctx.conn, require_str(props, "RestApiId"), current.physical_id)


class GatewayResponse:
    type_name = "AWS::ApiGateway::GatewayResponse"
    properties = frozenset(
        {"RestApiId", "ResponseType", "StatusCode", "ResponseParameters", "ResponseTemplates"}
    )
    required = frozenset({"RestApiId", "ResponseType"})
    attributes = frozenset({"Id"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        return self._put(ctx, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return self._put(ctx, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        service.delete_gateway_response(
            ctx.conn, require_str(props, "RestApiId"), require_str(props, "ResponseType")
        )

    def _put(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        api_id, kind = require_str(props, "RestApiId"), require_str(props, "ResponseType")
        if kind not in GATEWAY_RESPONSE_TYPES:
            raise ResourceFailed(
                f"1 validation error detected: Value '{kind}' at 'responseType' failed to "
                "satisfy constraint: Member must satisfy enum value set"
            )
        status = props.get("StatusCode")
        spec = {
            "status": int(status) if status else None,
            "headers": _static_headers(props, "gatewayresponse.header."),
        }
        with api_errors():
            service.put_gateway_response(ctx.conn, api_id, kind, spec)
        physical = f"{api_id}-{kind}"
        return Provisioned(physical, {"Id": physical})


def _enabled(props: Properties) -> bool:
    return props.get("Enabled") in (True, "true", "True")


class ApiKey:
    """An API key; its value is generated when the template gives none, as on AWS."""

    type_name = "AWS::ApiGateway::ApiKey"
    properties = frozenset(
        {
            "Name",
            "Description",
            "Enabled",
            "Value",
            "StageKeys",
            "GenerateDistinctId",
            "CustomerId",
            "Tags",
        }
    )
    required: frozenset[str] = frozenset()
    attributes = frozenset({"APIKeyId"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        name = props.get("Name") or ctx.physical_name(128)
        value = props.get("Value")
        with api_errors():
            key_id, _ = service.create_api_key(
                ctx.conn, str(name), _enabled(props), str(value) if value else None
            )
        return Provisioned(key_id, {"APIKeyId": key_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        name = new.get("Name") or old.get("Name") or current.physical_id
        service.update_api_key(ctx.conn, current.physical_id, str(name), _enabled(new))
        return current

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        service.delete_api_key(ctx.conn, current.physical_id)


def _api_stages(props: Properties) -> list[tuple[str, str]]:
    stages = props.get("ApiStages") or []
    if not isinstance(stages, list):
        raise ResourceFailed("Property ApiStages must be a list of {ApiId, Stage}")
    return [(require_str(s, "ApiId"), require_str(s, "Stage")) for s in stages]


class UsagePlan:
    """A usage plan: which stages accept its keys. Throttling and quotas are AWS's only."""

    type_name = "AWS::ApiGateway::UsagePlan"
    properties = frozenset(
        {"ApiStages", "Description", "Quota", "Throttle", "UsagePlanName", "Tags"}
    )
    required: frozenset[str] = frozenset()
    attributes = frozenset({"Id"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        return self._put(ctx, None, props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return self._put(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        service.delete_usage_plan(ctx.conn, current.physical_id)

    def _put(self, ctx: ResourceContext, plan_id: str | None, props: Properties) -> Provisioned:
        name = str(props.get("UsagePlanName") or ctx.physical_name(128))
        with api_errors():
            found = service.put_usage_plan(ctx.conn, plan_id, name, _api_stages(props))
        return Provisioned(found, {"Id": found})


class UsagePlanKey:
    type_name = "AWS::ApiGateway::UsagePlanKey"
    properties = frozenset({"KeyId", "KeyType", "UsagePlanId"})
    required = properties
    attributes = frozenset({"Id"})
    transactional = True

    def create(self, ctx: ResourceContext, props: Properties) -> Provisioned:
        key_id = require_str(props, "KeyId")
        if props.get("KeyType") != "API_KEY":
            raise ResourceFailed("Property KeyType must be API_KEY")
        with api_errors():
            service.add_usage_plan_key(ctx.conn, require_str(props, "UsagePlanId"), key_id)
        return Provisioned(key_id, {"Id": key_id})

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: Properties, new: Properties
    ) -> Provisioned:
        return current  # every property is create-only: the engine replaces instead

    def delete(self, ctx: ResourceContext, current: Provisioned, props: Properties) -> None:
        service.remove_usage_plan_key(
            ctx.conn, require_str(props, "UsagePlanId"), require_str(props, "KeyId")
        )
