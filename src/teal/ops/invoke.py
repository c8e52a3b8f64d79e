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

from teal.cloud.base import Cloud, Invocation
from teal.project.config import Target
from teal.runtime.errors import UserError
from teal.runtime.routes import RouteTable
from teal.template.synth import METADATA_KEY

_VARIABLE = re.compile(r"\{([^}+]+)(\+?)\}")


@dataclass(frozen=True)
class SampleRequest:
    """A request one of the function's routes answers, for the default event."""

    method: str
    resource_path: str  # the route's template: /posts/{id}
    path: str  # with sample values: /posts/1
    path_parameters: dict[str, str]


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


def sample_request(table: RouteTable, function: str) -> SampleRequest:
    """A request for one of the function's routes: a GET if it has one, the route with
    the fewest path variables first; variables get sample values."""
    routes = table.functions.get(function)
    if not routes:
        raise UserError(
            f"the app has no function {function!r}",
            where=function,
            hint="teal routes lists the app's functions",
        )
    candidates = [(r, m) for r in routes for m in r.methods]
    route, method = min(
        candidates,
        key=lambda pair: (pair[1] not in ("GET", "ANY"), pair[0].path.count("{"), pair[0].path),
    )
    parameters: dict[str, str] = {}

    def sample(found: re.Match[str]) -> str:
        value = "sample/path" if found.group(2) else "1"
        parameters[found.group(1)] = value
        return value

    path = _VARIABLE.sub(sample, route.path)
    return SampleRequest("GET" if method == "ANY" else method, route.path, path, parameters)
