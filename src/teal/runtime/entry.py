"""The Lambda handler of every teal function: ``teal.runtime.entry.handler``.

It imports the user's app once per execution environment (warm reuse), picks
the route from the event's ``resource`` and ``httpMethod`` and turns what the
handler returns into an API Gateway proxy response. A failing handler, or one
returning what no response can carry (``None``, a tuple, a body JSON cannot
encode: :func:`teal.runtime.http.to_proxy_response`), gets a 500 response; the
traceback, naming the handler, goes to stderr, which is the function's log.

Raw handlers (``raw=True``) are plain Lambda code: what they return is the
function's result as it is, and an exception fails the invocation, so API
Gateway answers 502 as it does for any Lambda function that raised.

When the entry names an ASGI or WSGI app instead of a teal App, the app routes
each request itself, through its adapter (:mod:`teal.runtime.frameworks`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from teal.runtime.access import CORSConfig, effective_cors, response_cors_headers, with_cors_headers
from teal.runtime.app import App
from teal.runtime.frameworks import Served, framework_handler
from teal.runtime.http import Request, to_proxy_response
from teal.runtime.routes import Route
from teal.runtime.secrets import load_once, redact
from teal.runtime.triggers import TriggerKind, event_kind
from teal.runtime.warmup import answer_warm_up, is_warm_up

ENTRY_VARIABLE = "TEAL_ENTRY"
FUNCTION_VARIABLE = "TEAL_FUNCTION"
ENVIRONMENT_VARIABLE = "TEAL_ENVIRONMENT"
# The app's [cors] as JSON, set only when teal.toml has one (a route's own cors= is in code).
CORS_VARIABLE = "TEAL_CORS"
# Names the environment that answered, so a switch can verify through the
# domain that the new environment (and not the old one) serves it.
ENVIRONMENT_HEADER = "X-Teal-Environment"

Dispatch = dict[tuple[str, str], Route]

_dispatch: Dispatch | None = None
_framework: Served | None = None
_entry_read = False  # whether the entry was imported and its kind known
_app_cors: tuple[CORSConfig | None] | None = None  # read once per execution environment


def load_app(entry: str) -> App:
    """Import ``module:attribute`` and return the App it names."""
    module_name, _, attribute = entry.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        raise TypeError(f"{entry} is not a teal App (got {type(app).__name__})")
    return app


def build_dispatch(app: App, function: str | None) -> Dispatch:
    """(resource path, verb) -> route, for the routes this function serves."""
    table: Dispatch = {}
    for route in app.routes().routes:
        if function is None or route.function == function:
            for method in route.methods:
                table[(route.path, method)] = route
    return table


def _current_dispatch() -> Dispatch:
    global _dispatch
    if _dispatch is None:
        entry = os.environ.get(ENTRY_VARIABLE, "app:app")
        _dispatch = build_dispatch(load_app(entry), os.environ.get(FUNCTION_VARIABLE))
    return _dispatch


def _error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message}),
        "isBase64Encoded": False,
    }


def find_route(dispatch: Dispatch, event: Mapping[str, Any]) -> Route | None:
    resource = str(event.get("resource") or event.get("path") or "/")
    method = str(event.get("httpMethod") or "GET").upper()
    return dispatch.get((resource, method)) or dispatch.get((resource, "ANY"))


def invoke(dispatch: Dispatch, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Serve one event with an already-built dispatch table."""
    route = find_route(dispatch, event)
    if route is None:
        return _error(404, f"no route for {event.get('httpMethod')} {event.get('resource')}")
    call: Callable[..., Any] = route.handler
    if route.raw:
        result: dict[str, Any] = call(event, context)  # raising fails the invocation
        return result
    try:
        answer = call(Request.from_event(event, context))
        response = _stamped(to_proxy_response(answer, _name_of(call)))
    except Exception:
        sys.stderr.write(redact(traceback.format_exc()))  # a value may be in the message
        response = _error(500, "Internal server error")
    return _with_cors(response, event, route.cors)


def handler_name(function: Callable[..., Any]) -> str:
    """``module.function``, as a log line names a handler."""
    module = getattr(function, "__module__", None) or "?"
    return f"handler {module}.{getattr(function, '__qualname__', repr(function))}"


_handler_names: dict[Callable[..., Any], str] = {}


def _name_of(function: Callable[..., Any]) -> str:
    """:func:`handler_name`, worked out once per handler: each request passes it on."""
    try:
        name = _handler_names.get(function)
    except TypeError:  # a callable object that cannot be a key
        return handler_name(function)
    if name is None:
        name = _handler_names[function] = handler_name(function)
    return name


def _stamped(response: dict[str, Any]) -> dict[str, Any]:
    environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if environment:
        response.setdefault("headers", {})[ENVIRONMENT_HEADER] = environment
    return response


def app_cors() -> CORSConfig | None:
    """The app's ``[cors]``, from :data:`CORS_VARIABLE`."""
    global _app_cors
    if _app_cors is None:
        text = os.environ.get(CORS_VARIABLE)
        _app_cors = (CORSConfig.from_json(json.loads(text)) if text else None,)
    return _app_cors[0]


def _with_cors(response: dict[str, Any], event: Mapping[str, Any], declared: Any) -> dict[str, Any]:
    """The response with the route's CORS headers, when it has CORS."""
    config = effective_cors(declared, app_cors())
    if config is None:
        return response
    method = str(event.get("httpMethod") or "GET")
    return with_cors_headers(response, response_cors_headers(config, method))


def _framework_app() -> Served | None:
    """The adapter serving a framework's app, or None when the entry is a teal App."""
    global _framework, _entry_read
    if not _entry_read:
        _framework = framework_handler(os.environ.get(ENTRY_VARIABLE, "app:app"))
        _entry_read = True
    return _framework


def run_trigger(kind: TriggerKind, event: Mapping[str, Any], context: Any) -> Any:
    """A scheduled event or an SQS batch, to the function's handler of that kind.

    Plain Lambda semantics: the handler's result is the invocation's, and an
    exception fails the invocation (an SQS batch then comes back later).
    """
    function = os.environ.get(FUNCTION_VARIABLE)
    app = load_app(os.environ.get(ENTRY_VARIABLE, "app:app"))
    call: Callable[..., Any] | None = app.triggers.handler_for(function, kind)
    if call is None:
        raise RuntimeError(f"function {function} has no {kind} handler for this event")
    return call(event, context)


def prepare() -> None:
    """What the first request of an execution environment does before its handler: the
    app's import, and its framework's startup (an ASGI app's lifespan) or its dispatch."""
    if _framework_app() is None:
        _current_dispatch()


def handler(event: Mapping[str, Any], context: Any) -> Any:
    """Lambda entry point."""
    load_once()  # the values of teal.toml's references, before the app is imported
    if is_warm_up(event):  # teal readying the environment: no handler runs
        return answer_warm_up(event, prepare)
    framework = _framework_app()
    if framework is not None:
        return _with_cors(_stamped(framework(event, context)), event, None)
    kind = event_kind(event)
    if kind is not None:
        return run_trigger(kind, event, context)
    return invoke(_current_dispatch(), event, context)
