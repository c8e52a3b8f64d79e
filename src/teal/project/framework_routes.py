"""A framework's own route table, read into API Gateway's resource paths.

Run by :mod:`teal.project.introspect` beside the app, in the runtime's Python
(loaded from this file, never shipped in a package): the standard library,
and the framework itself, which the app imported already.

Each framework route becomes a path of API Gateway's form: a static part, a
variable ``{name}`` for a parameter that takes one segment, a greedy
``{name+}`` for one that takes the rest (Starlette's ``path``, Werkzeug's and
Django's ``path`` converters). What API Gateway cannot express (a parameter
inside a segment, a greedy parameter before the end, a regular expression
beyond segments and named groups) becomes a greedy resource under the fixed
part before it: every request there reaches the one function, and the
framework routes it. Trailing slashes are dropped (API Gateway serves
``/items/`` from ``/items``), so the framework's own slash handling answers.

A route is a dict: ``path``, ``methods`` (``ANY`` for all), ``source`` (the
framework's route as written), ``handler`` (its description) and
``fallback`` (true when the path is such a greedy stand-in).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from teal.runtime.routes import PartKind, PathSyntaxError, defined_at, parse_part

Route = dict[str, Any]
GREEDY_NAME = "proxy"
ALL_METHODS = ("ANY",)
# Probes for a parameter's pattern: one that matches any of them may span segments.
_SLASHED = ("a/b", "1/2", "a-b/c_d", "2024/01", "x/y/z")


@dataclass(frozen=True)
class Part:
    """One segment of a framework path: static text, a parameter, or neither."""

    text: str  # static text, or the parameter's name
    kind: str  # "static" | "one" | "rest" | "opaque"


STATIC, ONE, REST, OPAQUE = "static", "one", "rest", "opaque"


def resource_path(parts: Sequence[Part]) -> tuple[str, bool]:
    """(API Gateway path, whether it is a greedy stand-in) for a framework path."""
    kept: list[str] = []
    for index, part in enumerate(parts):
        text = _api_part(part, last=index == len(parts) - 1)
        if text is None:
            return "/" + "/".join([*kept, "{" + GREEDY_NAME + "+}"]), True
        kept.append(text)
    return "/" + "/".join(kept), False


# How each kind of part is written as a path part, and what API Gateway must read in it.
_FORMS = {
    STATIC: ("{}", PartKind.STATIC),
    ONE: ("{{{}}}", PartKind.VARIABLE),
    REST: ("{{{}+}}", PartKind.GREEDY),
}


def _api_part(part: Part, *, last: bool) -> str | None:
    """The part as API Gateway writes it, or None where API Gateway cannot take it."""
    if part.kind not in _FORMS or (part.kind == REST and not last):
        return None
    form, kind = _FORMS[part.kind]
    text = form.format(part.text)
    try:
        return text if parse_part(text).kind is kind else None
    except PathSyntaxError:  # teal.runtime.routes holds API Gateway's rules for a part
        return None


def spans_segments(pattern: str) -> bool:
    """Whether a parameter's regular expression may match a '/' (so: greedy)."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return True
    return any(compiled.fullmatch(probe) for probe in _SLASHED)


def describe(handler: Any) -> dict[str, Any]:
    """A handler as the parent process shows it: names only."""
    target = getattr(handler, "view_class", None) or handler
    return {
        "module": getattr(target, "__module__", None),
        "qualname": getattr(target, "__qualname__", None) or type(target).__qualname__,
        "name": getattr(target, "__name__", None) or type(target).__name__,
        "callable": True,
        "repr": repr(target),
        "defined_at": defined_at(handler),
    }


def route(parts: Sequence[Part], methods: Iterable[str], source: str, handler: Any) -> Route:
    path, fallback = resource_path(parts)
    return {
        "path": path,
        "methods": sorted({m.upper() for m in methods}) or list(ALL_METHODS),
        "source": source,
        "handler": describe(handler),
        "fallback": fallback,
    }


# ---------------------------------------------------------------- brace paths


_BRACE = re.compile(r"\{([^{}:]+)(?::([^{}]+))?\}")


def brace_parts(path: str, convertors: dict[str, Any]) -> list[Part]:
    """Parts of a ``/items/{id:int}`` path (Starlette); ``convertors`` (by parameter) say
    which parameters take several segments."""
    parts: list[Part] = []
    for segment in _segments(path):
        whole = _BRACE.fullmatch(segment)
        if whole:
            regex = str(getattr(convertors.get(whole.group(1)), "regex", "[^/]+"))
            parts.append(Part(whole.group(1), REST if spans_segments(regex) else ONE))
        elif "{" in segment:
            parts.append(Part(segment, OPAQUE))
        else:
            parts.append(Part(segment, STATIC))
    return parts


def _segments(path: str) -> list[str]:
    """The segments of a path; a trailing '/' dropped, an empty one inside kept (opaque)."""
    inner = path.strip("/")
    return inner.split("/") if inner else []


# ---------------------------------------------------------------- Starlette, FastAPI


def starlette_routes(app: Any) -> list[Route] | None:
    """Routes of a Starlette app, a FastAPI app, a Router, or middleware around one."""
    routing = importlib.import_module("starlette.routing")
    found = _with_routes(app)
    if found is None:
        return None
    return list(_starlette_walk(routing, found.routes, [], ""))


def _with_routes(app: Any) -> Any:
    """The app itself, or the first app inside its middleware, that has routes."""
    for _ in range(32):
        if isinstance(getattr(app, "routes", None), list):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _flattened(routes: Sequence[Any]) -> Sequence[Any]:
    """The routes with FastAPI's included routers expanded, when this FastAPI includes
    them lazily (each then a context holding the route's full path)."""
    try:
        contexts = importlib.import_module("fastapi.routing").iter_route_contexts
    except (ImportError, AttributeError):
        return routes
    return list(contexts(routes))


def _starlette_walk(
    routing: Any, routes: Sequence[Any], prefix: list[Part], source_prefix: str
) -> Iterator[Route]:
    for item in _flattened(routes):
        declared = getattr(item, "original_route", item)
        path = str(item.path) if isinstance(declared, routing.Route | routing.Mount) else ""
        parts = prefix + brace_parts(path, getattr(item, "param_convertors", {}) or {})
        source = source_prefix + path
        if isinstance(declared, routing.Route):
            methods = item.methods or ALL_METHODS  # none: an endpoint class takes any
            yield route(parts, methods, f"route {_verbs(methods)} {source}", item.endpoint)
        elif isinstance(declared, routing.Mount):
            inner = item.routes
            if inner:
                yield from _starlette_walk(routing, inner, parts, source)
            else:
                yield from _mounted_app(item, parts, source)
        elif isinstance(declared, routing.Host):
            yield from _starlette_walk(routing, item.routes, prefix, source_prefix)
        # WebSocket routes: REST APIs carry no WebSocket, so they have no resource


def _mounted_app(mount: Any, parts: list[Part], source: str) -> Iterator[Route]:
    """A mounted app without routes (static files, another framework): everything under
    its prefix goes to it."""
    is_static = type(mount.app).__name__ == "StaticFiles"
    methods = ("GET", "HEAD") if is_static else ALL_METHODS
    what = f"{'static files' if is_static else 'mounted app'} at {source or '/'}"
    if not is_static and parts:
        yield route(parts, methods, what, mount.app)
    yield route([*parts, Part(GREEDY_NAME, REST)], methods, what, mount.app)


def _verbs(methods: Iterable[str]) -> str:
    return "|".join(sorted(methods))


# ---------------------------------------------------------------- Flask


_WERKZEUG_VARIABLE = re.compile(
    r"<(?:(?P<converter>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<name>[A-Za-z_]\w*)>"
)


def flask_routes(app: Any) -> list[Route]:
    """Routes of a Flask app: every rule of its URL map, blueprints' included."""
    converters = app.url_map.converters
    found = []
    for rule in app.url_map.iter_rules():
        parts = _werkzeug_parts(rule.rule, converters)
        view = app.view_functions.get(rule.endpoint, rule.endpoint)
        methods = sorted(rule.methods or ALL_METHODS)
        found.append(route(parts, methods, f"route {_verbs(methods)} {rule.rule}", view))
    return found


def _werkzeug_parts(rule: str, converters: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for segment in _segments(rule):
        whole = _WERKZEUG_VARIABLE.fullmatch(segment)
        if whole:
            converter = converters.get(whole.group("converter") or "default")
            greedy = converter is None or not getattr(converter, "part_isolating", True)
            greedy = greedy or spans_segments(str(getattr(converter, "regex", ".*")))
            parts.append(Part(whole.group("name"), REST if greedy else ONE))
        elif "<" in segment:
            parts.append(Part(segment, OPAQUE))
        else:
            parts.append(Part(segment, STATIC))
    return parts


# ---------------------------------------------------------------- Django


_DJANGO_VARIABLE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>(?:[^()\\]|\\.)*)\)")
_REGEX_LITERAL = re.compile(r"(?:[A-Za-z0-9_~:@!&',;=-]|\\[.\-_~:@!$&'()*+,;=/])+")


def django_routes() -> list[Route]:
    """Routes of the Django project's URLconf (``settings.ROOT_URLCONF``)."""
    urls = importlib.import_module("django.urls")
    return list(_django_walk(urls, urls.get_resolver().url_patterns, [], ""))


def _django_walk(
    urls: Any, patterns: Sequence[Any], prefix: list[Part], source_prefix: str
) -> Iterator[Route]:
    for entry in patterns:
        parts = prefix + _django_pattern_parts(
            entry.pattern, endpoint=not _is_resolver(urls, entry)
        )
        source = source_prefix + str(entry.pattern)
        if _is_resolver(urls, entry):
            if any(part.kind == OPAQUE for part in parts):  # all of it under one stand-in
                yield route(parts, ALL_METHODS, f"include {source!r}", entry)
            else:
                yield from _django_walk(urls, entry.url_patterns, parts, source)
        else:
            yield route(parts, ALL_METHODS, f"route {source!r}", entry.callback)


def _is_resolver(urls: Any, entry: Any) -> bool:
    return isinstance(entry, urls.URLResolver)


def _django_pattern_parts(pattern: Any, *, endpoint: bool) -> list[Part]:
    """Parts of a ``path()`` route or of a ``re_path()`` regex that API Gateway can take;
    what it cannot becomes a greedy part (the rest of the path, to the framework)."""
    route_text = getattr(pattern, "_route", None)
    if isinstance(route_text, str):
        return _django_route_parts(route_text, getattr(pattern, "converters", {}))
    regex = getattr(getattr(pattern, "regex", None), "pattern", None)
    if isinstance(regex, str):
        return _regex_parts(regex, endpoint=endpoint)
    return [Part(str(pattern), OPAQUE)]  # a pattern of another kind (a language prefix...)


def _django_route_parts(route_text: str, converters: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for segment in _segments(route_text):
        whole = _DJANGO_VARIABLE.fullmatch(segment)
        if whole:
            converter = converters.get(whole.group("name"))
            greedy = spans_segments(str(getattr(converter, "regex", "[^/]+")))
            parts.append(Part(whole.group("name"), REST if greedy else ONE))
        elif "<" in segment:
            parts.append(Part(segment, OPAQUE))
        else:
            parts.append(Part(segment, STATIC))
    return parts


def _regex_parts(regex: str, *, endpoint: bool) -> list[Part]:
    """Parts of a ``re_path()`` regex made of literal segments and whole named groups.

    Anything else (alternatives, optional parts, a group inside a segment, an
    endpoint not anchored at its end) leaves a greedy part from there on.
    """
    body = regex.removeprefix("^")
    anchored = body.endswith("$") or body.endswith(r"\Z")
    body = body.removesuffix("$").removesuffix(r"\Z")
    segments = _regex_segments(body)
    parts: list[Part] = []
    for index, segment in enumerate(segments):
        group = _REGEX_GROUP.fullmatch(segment)
        if group and not spans_segments(group.group("body")):
            parts.append(Part(group.group("name"), ONE))
        elif group and anchored and index == len(segments) - 1:
            parts.append(Part(group.group("name"), REST))
        elif _REGEX_LITERAL.fullmatch(segment):
            parts.append(Part(re.sub(r"\\(.)", r"\1", segment), STATIC))
        else:
            return [*parts, Part(segment, OPAQUE)]
    if endpoint and not anchored:  # it matches any path that starts so
        return [*parts, Part("", OPAQUE)]
    return parts


def _regex_segments(body: str) -> list[str]:
    """Split a regex at the '/' outside groups and character classes; drop a trailing '/'."""
    segments, current, depth, in_class, escaped = [], "", 0, False, False
    for char in body:
        if escaped:
            current, escaped = current + char, False
            continue
        if char == "\\":
            current, escaped = current + char, True
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(current)
            current = ""
            continue
        current += char
    segments.append(current)
    if segments and segments[-1] == "":
        segments.pop()
    return segments
