"""CORS in the template: API Gateway answers preflights and its own errors itself.

- **Preflight.** Every resource with a CORS route gets an ``OPTIONS`` method
  with a MOCK integration (as AWS Chalice does): API Gateway answers the
  browser's preflight with fixed headers (the allowed origin, headers and
  methods) and never calls a function. Where the app declares ``OPTIONS``
  itself (a teal route, or a framework route such as each of Flask's rules),
  the app answers the preflight, and the runtime adds the headers.
- **A framework's own preflights.** A framework app (FastAPI, Flask, Django...)
  answers ``OPTIONS`` itself where teal's CORS is not asked for (its CORS
  middleware answers the preflight, or the framework its own 405): each of
  its resources gets an ``OPTIONS`` method to the app's function
  (:func:`with_app_options`). Without it, API Gateway would answer the
  browser's preflight with 403 and the app would never see it.
- **Gateway responses.** ``DEFAULT_4XX`` and ``DEFAULT_5XX`` carry the
  origin's headers on every answer API Gateway makes itself (403 Missing
  Authentication Token, 401 from an authorizer, 502 when a function fails...),
  so a browser page can read those errors too. They follow the app's
  ``[cors]``, else the config the app's CORS routes share.

The routes' ``cors=`` is resolved against ``[cors]`` once, before synthesis
(:func:`with_effective_cors`): after it each route's ``cors`` is a
:class:`CORSConfig` or None.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from teal.runtime.access import CORSConfig, effective_cors
from teal.runtime.errors import UserError
from teal.runtime.routes import Node, Route, RouteTable

Json = Any
# The MOCK integration answers with the status its request template names.
MOCK_REQUEST_TEMPLATE = '{"statusCode": 200}'
GATEWAY_RESPONSE_TYPES = ("DEFAULT_4XX", "DEFAULT_5XX")


def with_effective_cors(table: RouteTable, app_cors: CORSConfig | None) -> RouteTable:
    """The table with each route's CORS resolved (a CORSConfig or None); the same table
    when no route has any."""
    if app_cors is None and all(r.cors is None for r in table.routes):
        return table
    routes = [dataclasses.replace(r, cors=effective_cors(r.cors, app_cors)) for r in table.routes]
    return dataclasses.replace(table, routes=routes)


def with_app_options(table: RouteTable) -> RouteTable:
    """The table with ``OPTIONS`` added to each framework route without CORS config (run
    after :func:`with_effective_cors`), so the app answers its own preflights; the same
    table when there is none to add."""
    routes = [
        dataclasses.replace(r, methods=tuple(sorted([*r.methods, "OPTIONS"])))
        if _app_answers_options(r)
        else r
        for r in table.routes
    ]
    if routes == list(table.routes):
        return table
    return dataclasses.replace(table, routes=routes)


def _app_answers_options(route: Route) -> bool:
    """A framework's route (it has a ``source``) that neither takes OPTIONS already (an
    ``ANY`` or a Flask rule does) nor has a MOCK preflight from teal's CORS."""
    has_options = "OPTIONS" in route.methods or "ANY" in route.methods
    return route.source is not None and not has_options and route.cors is None


def preflight_cors(node: Node[Route]) -> CORSConfig | None:
    """The CORS a resource's MOCK preflight answers with, or None when it has none (no
    CORS route there, or the app answers OPTIONS there itself)."""
    if "OPTIONS" in node.methods:
        return None
    configs = {r.cors for r in node.methods.values() if isinstance(r.cors, CORSConfig)}
    if len(configs) > 1:
        raise UserError(
            f"the routes of {node.path} ask for different CORS configs, and a resource "
            "has one preflight answer",
            where=node.path,
            hint="give the routes of one path the same cors=",
        )
    return next(iter(configs), None)


def preflight_verbs(node: Node[Route]) -> list[str]:
    """The verbs a preflight allows: those of the resource's CORS routes."""
    return sorted(v for v, r in node.methods.items() if isinstance(r.cors, CORSConfig))


def preflight_method(
    config: CORSConfig, verbs: list[str], rest_api: Json, resource: Json
) -> dict[str, Any]:
    """The ``OPTIONS`` method answering the preflight with a MOCK integration."""
    headers = config.preflight_headers(verbs)
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": rest_api,
            "ResourceId": resource,
            "HttpMethod": "OPTIONS",
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "MOCK",
                "RequestTemplates": {"application/json": MOCK_REQUEST_TEMPLATE},
                "PassthroughBehavior": "WHEN_NO_MATCH",
                "IntegrationResponses": [
                    {
                        "StatusCode": "200",
                        "ResponseParameters": {
                            f"method.response.header.{name}": _static(value)
                            for name, value in headers.items()
                        },
                    }
                ],
            },
            "MethodResponses": [
                {
                    "StatusCode": "200",
                    "ResponseModels": {"application/json": "Empty"},
                    "ResponseParameters": {
                        f"method.response.header.{name}": False for name in headers
                    },
                }
            ],
        },
    }


def _static(value: str) -> str:
    """A static value in API Gateway's parameter mappings: in single quotes."""
    return f"'{value}'"


def gateway_cors(table: RouteTable, app_cors: CORSConfig | None) -> CORSConfig | None:
    """The CORS of API Gateway's own answers: ``[cors]``, else the one config all CORS
    routes share (none when they differ: set ``[cors]`` to choose)."""
    if app_cors is not None:
        return app_cors
    configs = {r.cors for r in table.routes if isinstance(r.cors, CORSConfig)}
    return configs.pop() if len(configs) == 1 else None


def gateway_response_id(response_type: str, gen: str) -> str:
    """``DEFAULT_4XX`` -> ``GatewayResponseDefault4XX``."""
    words = "".join(w.capitalize() for w in response_type.split("_")).replace("xx", "XX")
    return f"GatewayResponse{words}{gen}"


def gateway_responses(config: CORSConfig | None, rest_api: Json, gen: str) -> dict[str, Any]:
    """``DEFAULT_4XX`` and ``DEFAULT_5XX`` with the CORS headers (none without CORS)."""
    if config is None:
        return {}
    parameters = {
        f"gatewayresponse.header.{name}": _static(value) for name, value in config.headers().items()
    }
    return {
        gateway_response_id(kind, gen): {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "RestApiId": rest_api,
                "ResponseType": kind,
                "ResponseParameters": parameters,
            },
        }
        for kind in GATEWAY_RESPONSE_TYPES
    }


def cors_facts(table: RouteTable, config: CORSConfig | None) -> list[Any]:
    """What a deployment snapshots of CORS: the preflights and the gateway responses.

    Gateway responses, like methods, reach clients through a new deployment.
    """
    preflights = sorted(
        (node.path, preflight_verbs(node), found.to_json())
        for node in table.tree.nodes()
        if (found := preflight_cors(node)) is not None
    )
    if not preflights and config is None:
        return []
    return [preflights, config.to_json() if config is not None else None]
