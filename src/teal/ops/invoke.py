"""One invocation of one function of an environment: ``teal invoke``.

The function is named as the app names it (``posts``); the deployed stack
says which Lambda function that is now (its generation suffix included).
Without an event of the user's, the event is a sample proxy request for one
of the function's routes, as API Gateway would send it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from teal.cloud.base import Cloud, Invocation
from teal.project.config import Target
from teal.runtime.errors import UserError
from teal.runtime.routes import MatchKind, Route, RouteTable
from teal.template.synth import METADATA_KEY

_VARIABLE = re.compile(r"\{([^}+]+)(\+?)\}")


@dataclass(frozen=True)
class SampleRequest:
    """A request one of the function's routes answers, for the default event."""

    method: str
    resource_path: str  # the route's template: /posts/{id}
    path: str  # with sample values: /posts/1
    path_parameters: dict[str, str]
    query: str = ""  # as sent, without its '?'


@dataclass(frozen=True)
class InvokeReport:
    function: str  # the app's name
    invocation: Invocation
    event: Any

    @property
    def server_error(self) -> int | None:
        """The 5xx status a proxy request was answered with (a handler that raised, which
        teal's runtime and frameworks turn into a 500 answer), else None."""
        result = self.invocation.result
        if not (isinstance(self.event, dict) and "httpMethod" in self.event):
            return None
        status = result.get("statusCode") if isinstance(result, dict) else None
        return status if isinstance(status, int) and status >= 500 else None

    @property
    def failed(self) -> bool:
        """Lambda's error, or a proxy answer of 5xx: what ``teal invoke`` exits 1 for."""
        return self.invocation.error is not None or self.server_error is not None

    def to_json(self) -> dict[str, Any]:
        call = self.invocation
        return {
            "failed": self.failed,
            "function": self.function,
            "function_name": call.function_name,
            "request_id": call.request_id,
            "result": call.result,
            "error": call.error.to_json() if call.error else None,
            "duration_ms": round(call.duration_ms, 2),
            "logs": call.logs,
        }


def lambda_name(cloud: Cloud, target: Target, function: str) -> str:
    """The deployed Lambda function that is the app's ``function`` in the environment."""
    stack = cloud.describe_stack(target.environment)
    if stack is None:
        raise UserError(
            f"environment {target.environment} does not exist in the {target.cloud} cloud",
            where=target.environment,
            hint="deploy it first: teal deploy",
        )
    meta = stack.template.get("Metadata", {}).get(METADATA_KEY, {})
    functions = meta.get("functions", {}) if isinstance(meta, dict) else {}
    name = functions.get(function) if isinstance(functions, dict) else None
    if not isinstance(name, str):
        known = ", ".join(sorted(functions)) if isinstance(functions, dict) else ""
        raise UserError(
            f"{target.environment} has no function {function!r}",
            where=function,
            hint=f"its functions: {known}" if known else "teal routes lists the app's functions",
        )
    return name


def invoke(cloud: Cloud, target: Target, function: str, event: Any) -> InvokeReport:
    name = lambda_name(cloud, target, function)
    return InvokeReport(function, cloud.invoke_function(name, event), event)


# what a request can carry; ANY is a route's wildcard, never a request's method
REQUEST_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def sample_request(
    table: RouteTable, function: str, *, path: str | None = None, method: str | None = None
) -> SampleRequest:
    """The request the default event stands for: ``path`` (and ``method``, GET by
    default) as the user asked, checked against the routes as API Gateway would route
    it; else a sample of one of the function's routes, of ``method`` when given."""
    routes = table.functions.get(function)
    if not routes:
        raise UserError(
            f"the app has no function {function!r}",
            where=function,
            hint="teal routes lists the app's functions",
        )
    verb = _request_method(method) if method is not None else None
    if path is not None:
        return _request_for_path(table, function, path, verb or "GET")
    return _sample_of(routes, function, verb)


def _request_method(method: str) -> str:
    verb = method.upper()
    if verb not in REQUEST_METHODS:
        raise UserError(
            f"{method!r} is not a request method",
            where="--method",
            hint=f"one of {', '.join(REQUEST_METHODS)}",
        )
    return verb


def _sample_of(routes: list[Route], function: str, method: str | None) -> SampleRequest:
    """A GET if the function has one (or ``method``), the route with the fewest path
    variables first; variables get sample values."""
    candidates = [
        (r, m) for r in routes for m in r.methods if method is None or m in (method, "ANY")
    ]
    if not candidates:
        served = ", ".join(sorted({m for r in routes for m in r.methods}))
        raise UserError(
            f"function {function!r} has no {method} route",
            where="--method",
            hint=f"its routes take {served}",
        )
    route, route_method = min(
        candidates,
        key=lambda pair: (pair[1] not in ("GET", "ANY"), pair[0].path.count("{"), pair[0].path),
    )
    parameters: dict[str, str] = {}

    def sample(found: re.Match[str]) -> str:
        value = "sample/path" if found.group(2) else "1"
        parameters[found.group(1)] = value
        return value

    path = _VARIABLE.sub(sample, route.path)
    verb = method or ("GET" if route_method == "ANY" else route_method)
    return SampleRequest(verb, route.path, path, parameters)


def _request_for_path(table: RouteTable, function: str, given: str, method: str) -> SampleRequest:
    """The request for ``given`` (a path after the stage, a query string allowed), if
    API Gateway would send it to ``function``."""
    parts = urlsplit(given)
    if not parts.path.startswith("/") or parts.scheme or parts.netloc:
        raise UserError(
            f"{given!r} is not a path",
            where="--path",
            hint="give the path after the stage, e.g. --path /posts/1 or --path '/posts?limit=2'",
        )
    found = table.tree.match(parts.path, method)
    if found.kind is MatchKind.NONE or found.node is None:
        raise UserError(
            f"no route of the app matches {parts.path}",
            where="--path",
            hint=f"teal routes lists the app's routes (the paths of {function!r}: "
            f"{', '.join(sorted({r.path for r in table.functions[function]}))})",
        )
    route = found.target
    if route is None:
        raise UserError(
            f"{parts.path} has no {method} route",
            where="--method",
            hint=f"its methods: {', '.join(sorted(found.node.methods))}",
        )
    if route.function != function:
        raise UserError(
            f"{method} {parts.path} is served by function {route.function!r}, not {function!r}",
            where="--path",
            hint=f"teal invoke {route.function} --path {given}"
            + (f" --method {method}" if method != "GET" else ""),
        )
    return SampleRequest(method, route.path, parts.path, dict(found.params), parts.query)
