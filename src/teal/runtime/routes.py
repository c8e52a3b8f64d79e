"""The route table: path templates compiled once, validated, arranged as a tree.

One route table feeds the template synthesizer, the change analyzer and the
local gateway. Path templates follow API Gateway's REST API resource paths:
static parts, variables ``{name}`` and a greedy last part ``{name+}``.

This module uses the standard library only: it ships inside Lambda packages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from teal.runtime.access import (
    IAM,
    Authorizer,
    CognitoAuthorizer,
    CORSConfig,
    LambdaAuthorizer,
    authorizer_problems,
    cors_problems,
)
from teal.runtime.triggers import Triggers

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")

# API Gateway's documented limits for REST APIs (docs/limits.md, "Routes and
# paths", has the facts and their sources). A path whose shortest request does
# not fit in a URL can never be called: refused. The resources quota can be
# raised for an API: only a warning.
URL_LENGTH_LIMIT = 10240  # characters of a regional API's request URL; not raisable
RESOURCES_QUOTA = 300  # resources per REST API, by default

# Parts no request can carry: clients resolve '.' and '..' away before they send one
# (RFC 3986, "Remove Dot Segments"), so a path holding one could never be reached.
DOT_SEGMENTS = frozenset({".", ".."})
_STATIC_PART = re.compile(r"^[A-Za-z0-9._~:@!$&'()*,;=-]+$")
_VARIABLE_PART = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


class PartKind(Enum):
    STATIC = "static"
    VARIABLE = "variable"
    GREEDY = "greedy"


@dataclass(frozen=True)
class PathPart:
    """One segment of a path template, as API Gateway's ``PathPart`` holds it."""

    text: str
    kind: PartKind
    name: str | None = None  # the variable's name, for variable and greedy parts

    @property
    def is_variable(self) -> bool:
        return self.kind is not PartKind.STATIC


class PathSyntaxError(ValueError):
    """A path template that API Gateway would not accept."""


def parse_part(text: str) -> PathPart:
    """Parse one path segment; raise :class:`PathSyntaxError` when invalid."""
    if not text:
        raise PathSyntaxError("empty path part (two '/' in a row, or a trailing '/')")
    var = _VARIABLE_PART.match(text)
    if var:
        kind = PartKind.GREEDY if var.group(2) else PartKind.VARIABLE
        return PathPart(text, kind, var.group(1))
    if "{" in text or "}" in text:
        raise PathSyntaxError(
            f"invalid path part {text!r}: a variable is a whole part, "
            "'{name}' or '{name+}', with a name of letters, digits and '_'"
        )
    if not _STATIC_PART.match(text):
        raise PathSyntaxError(
            f"invalid path part {text!r}: use letters, digits and . _ ~ - : @ ! $ & ' ( ) * , ; ="
        )
    return PathPart(text, PartKind.STATIC)


def compile_path(path: str) -> tuple[PathPart, ...]:
    """Split and check a path template; ``"/"`` is the root (no parts)."""
    if not path.startswith("/"):
        raise PathSyntaxError(f"path {path!r} must start with '/'")
    if path == "/":
        return ()
    parts = tuple(parse_part(p) for p in path[1:].split("/"))
    for part in parts:
        if part.text in DOT_SEGMENTS:
            raise PathSyntaxError(
                f"path part {part.text!r} can never be reached: clients resolve '.' and '..' "
                "away before they send a request; write the path without it"
            )
    for part in parts[:-1]:
        if part.kind is PartKind.GREEDY:
            raise PathSyntaxError(f"greedy variable {part.text} must be the last part of the path")
    names = [p.name for p in parts if p.name]
    for name in names:
        if names.count(name) > 1:
            raise PathSyntaxError(f"variable {{{name}}} appears more than once in the path")
    return parts


@dataclass(frozen=True)
class Route:
    """A handler bound to a path template and its HTTP methods."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    function: str
    raw: bool = False
    parts: tuple[PathPart, ...] = ()
    source: str | None = None  # a framework's own route behind this one, as it declares it
    cors: Any = None  # as declared: None (the app's [cors]), True, False or a CORSConfig
    authorizer: str | None = None  # an authorizer's name, "aws_iam", or None
    api_key_required: bool = False

    @property
    def handler_name(self) -> str:
        module = getattr(self.handler, "__module__", "?")
        name = getattr(self.handler, "__qualname__", repr(self.handler))
        return f"{module}.{name}"

    @property
    def label(self) -> str:
        """The route as its author knows it: the path, or the framework's own route."""
        return repr(self.path) if self.source is None else f"{self.path!r} (from {self.source})"

    def describe(self) -> str:
        return f"{'|'.join(self.methods)} {self.path} ({self.handler_name})"


T = TypeVar("T")


@dataclass
class Node(Generic[T]):
    """A resource of the tree: one path part, its children and its methods."""

    part: PathPart | None  # None for the root
    path: str
    children: dict[str, Node[T]] = field(default_factory=dict)
    methods: dict[str, T] = field(default_factory=dict)

    def variable_child(self) -> Node[T] | None:
        return next((c for c in self.children.values() if c.part and c.part.is_variable), None)

    def walk(self) -> Iterator[Node[T]]:
        """This node and its descendants, parents before children, in sorted order.

        A loop with its own stack, not recursion: a path may be thousands of
        parts deep (see :data:`URL_LENGTH_LIMIT`), deeper than Python's stack.
        """
        pending: list[Node[T]] = [self]
        while pending:
            node = pending.pop()
            yield node
            pending.extend(node.children[key] for key in sorted(node.children, reverse=True))


class MatchKind(Enum):
    NONE = "none"  # no resource has this path
    PATH = "path"  # a resource matches but has no method for the verb
    FULL = "full"


@dataclass(frozen=True)
class Match(Generic[T]):
    kind: MatchKind
    node: Node[T] | None = None
    target: T | None = None
    method: str | None = None  # the method key that matched (the verb or ANY)
    params: Mapping[str, str] = field(default_factory=dict)


MATCHES_KEPT = 1024  # per tree: a few hot paths matter, a scan of random ones must not grow it


class PathTree(Generic[T]):
    """Resources keyed by path template, each with payloads per HTTP method.

    Generic so that the app's routes, a deployed template's methods and a
    local deployment snapshot all use the same tree and the same matching.
    """

    def __init__(self) -> None:
        self.root: Node[T] = Node(None, "/")
        # the gateway asks once per request, mostly about the same few paths
        self._matches: dict[tuple[str, str], Match[T]] = {}

    def add(self, path: str, method: str, target: T) -> Node[T]:
        node = self.ensure(compile_path(path))
        node.methods[method] = target
        self._matches.clear()
        return node

    def ensure(self, parts: Iterable[PathPart]) -> Node[T]:
        self._matches.clear()
        node = self.root
        for part in parts:
            child = node.children.get(part.text)
            if child is None:
                child = Node(part, _child_path(node.path, part.text))
                node.children[part.text] = child
            node = child
        return node

    def nodes(self) -> Iterator[Node[T]]:
        return self.root.walk()

    def match(self, path: str, method: str) -> Match[T]:
        """Find the resource and method API Gateway would pick for a request.

        API Gateway resolves the path and the method together: the most
        specific resource that has the method (or ``ANY``) wins, static parts
        before a variable, a variable before a greedy one, deeper resources
        before their ancestors. A static resource without the verb yields to a
        variable or greedy sibling or ancestor that has it (``POST /users``
        beside ``GET /users`` and ``ANY /{proxy+}`` reaches ``/{proxy+}``).
        Answers are remembered (up to :data:`MATCHES_KEPT` of them) until the
        tree changes.
        """
        key = (path, method)
        known = self._matches.get(key)
        if known is None:
            if len(self._matches) >= MATCHES_KEPT:
                self._matches.clear()
            known = self._matches[key] = self._match(path, method)
        return known

    def _match(self, path: str, method: str) -> Match[T]:
        segments = [s for s in path.split("/") if s] if path not in ("", "/") else []
        verb = method.upper()
        found = _match_segments(
            self.root, segments, lambda n: verb in n.methods or "ANY" in n.methods
        )
        if found is not None:
            node, params = found
            for key in (verb, "ANY"):
                if key in node.methods:
                    return Match(MatchKind.FULL, node, node.methods[key], key, params)
        # no resource on the way has the method: say which resource the path reaches
        found = _match_segments(self.root, segments, lambda n: bool(n.methods))
        if found is None:
            return Match(MatchKind.NONE)
        node, params = found
        return Match(MatchKind.PATH, node, None, None, params)


def _child_path(parent: str, part: str) -> str:
    return f"/{part}" if parent == "/" else f"{parent}/{part}"


Found = tuple[Node[T], dict[str, str]]

# What a level of the matching search does next.
_TRY_STATIC, _TRY_VARIABLE, _CHOOSE = "try the static child", "try the variable child", "choose"


@dataclass
class _Attempt(Generic[T]):
    """One level of the matching search: a node, the segment it matches next, what it found."""

    node: Node[T]
    depth: int  # index of the next segment
    params: dict[str, str]
    next: str = _TRY_STATIC
    partial: Found[T] | None = None  # the static child's match, if any


def _match_segments(
    root: Node[T], segments: list[str], serves: Callable[[Node[T]], bool]
) -> Found[T] | None:
    """Depth-first match preferring static parts; a resource that ``serves`` beats one
    that does not.

    At each level the static child is tried first; its match wins when its
    resource serves, else the variable child's match wins when it serves (or
    when the static child matched nothing). A match that serves is found
    whenever one exists. A greedy variable
    takes all remaining segments. The search keeps its own stack, so a request
    path may be as deep as API Gateway allows.
    """
    stack: list[_Attempt[T]] = [_Attempt(root, 0, {})]
    result: Found[T] | None = None  # what the attempt popped last found
    while stack:
        attempt = stack[-1]
        if attempt.depth == len(segments):
            result = (attempt.node, attempt.params)
            stack.pop()
        elif attempt.next == _TRY_STATIC:
            attempt.next = _TRY_VARIABLE
            result = None
            static = attempt.node.children.get(segments[attempt.depth])
            if static is not None and static.part is not None and not static.part.is_variable:
                stack.append(_Attempt(static, attempt.depth + 1, attempt.params))
        elif attempt.next == _TRY_VARIABLE:
            attempt.next, attempt.partial = _CHOOSE, result
            if result is not None and serves(result[0]):
                stack.pop()
                continue
            child = _variable_attempt(attempt, segments)
            if isinstance(child, _Attempt):
                stack.append(child)
            else:  # a greedy match, or no variable child at all
                result = child if child is not None else attempt.partial
                stack.pop()
        else:  # _CHOOSE between the variable child's match (in result) and the static one's
            found = result
            if found is None or not (serves(found[0]) or attempt.partial is None):
                result = attempt.partial
            stack.pop()
    return result


def _variable_attempt(attempt: _Attempt[T], segments: list[str]) -> _Attempt[T] | Found[T] | None:
    """The variable child's attempt, a greedy child's match, or None without a variable child."""
    variable = attempt.node.variable_child()
    if variable is None or variable.part is None or variable.part.name is None:
        return None
    name, head = variable.part.name, segments[attempt.depth]
    if variable.part.kind is PartKind.GREEDY:
        return variable, {**attempt.params, name: "/".join(segments[attempt.depth :])}
    return _Attempt(variable, attempt.depth + 1, {**attempt.params, name: head})


@dataclass(frozen=True)
class RouteTable:
    """The app's validated routes, the resource tree they make, the authorizers the
    routes name (by name), and (as teal read the app) its schedules and queue
    consumers: functions no route calls may run them.

    A value: change one with :func:`dataclasses.replace`, which carries every other
    field along (a table rebuilt by hand once dropped the app's triggers).
    """

    routes: Sequence[Route]
    authorizers: Mapping[str, Authorizer] = field(default_factory=dict)
    triggers: Triggers = field(default_factory=Triggers)
    tree: PathTree[Route] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "authorizers", dict(self.authorizers))
        tree: PathTree[Route] = PathTree()
        for route in self.routes:
            for method in route.methods:
                tree.add(route.path, method, route)
        object.__setattr__(self, "tree", tree)

    @property
    def functions(self) -> dict[str, list[Route]]:
        """Routes grouped by the Lambda function that serves them, sorted by name."""
        grouped: dict[str, list[Route]] = {}
        for route in sorted(self.routes, key=lambda r: (r.function, r.path)):
            grouped.setdefault(route.function, []).append(route)
        return grouped

    def endpoints(self) -> list[tuple[str, str, Route]]:
        """(path, method, route) for every method of every resource, sorted."""
        return sorted(
            ((r.path, m, r) for r in self.routes for m in r.methods), key=lambda t: (t[0], t[1])
        )


@dataclass(frozen=True)
class RouteSpec:
    """A route as declared, before validation."""

    path: str
    methods: tuple[str, ...]
    handler: Any
    function: str | None
    raw: bool
    source: str | None = None  # for a framework's route: its own declaration, for messages
    cors: Any = None  # None, True, False or a CORSConfig
    authorizer: Any = None  # None, "aws_iam", a declared authorizer's name, a CognitoAuthorizer
    api_key_required: Any = False  # a bool, when valid


# A problem found in the declarations, and where it is (see :func:`route_place`).
Problem = tuple[str, str]


def build_route_table(
    specs: Iterable[RouteSpec], authorizers: Iterable[LambdaAuthorizer] = ()
) -> RouteTable:
    """Validate declared routes and authorizers; raise ``RouteError`` listing every problem,
    placed at the first one's route and handler."""
    specs = list(specs)
    found: list[Problem] = []
    routes: list[Route] = []
    for spec in specs:
        problems: list[str] = []
        route = _check_spec(spec, problems)
        found += [(problem, _spec_place(spec)) for problem in problems]
        if route is not None:
            routes.append(route)
    found += _check_conflicts(routes)
    known = _check_authorizers(specs, list(authorizers), found)
    if found:
        from teal.runtime.errors import RouteError

        raise RouteError([problem for problem, _ in found], where=found[0][1])
    used = {r.authorizer for r in routes}
    return RouteTable(routes, {name: a for name, a in known.items() if name in used})


def handler_reference(handler: Any) -> str:
    """``module:qualname``, as the user would look the handler up."""
    module = getattr(handler, "__module__", None) or "?"
    return f"{module}:{getattr(handler, '__qualname__', None) or repr(handler)}"


def defined_at(handler: Any) -> str | None:
    """``file:line`` where a handler is defined (its first decorator's line), when its code
    says so, or when teal's reading of the app recorded it (``teal_defined_at``)."""
    recorded = getattr(handler, "teal_defined_at", None)
    if isinstance(recorded, str):
        return recorded
    for _ in range(32):  # through decorators that say what they wrap (functools.wraps)
        inner = getattr(handler, "__wrapped__", None)
        if inner is None:
            break
        handler = inner
    code = getattr(handler, "__code__", None)
    filename, line = getattr(code, "co_filename", None), getattr(code, "co_firstlineno", None)
    return f"{filename}:{line}" if isinstance(filename, str) and isinstance(line, int) else None


def route_place(subject: str, handler: Any) -> str:
    """Where a declaration is: ``app.py:12 (route '/posts', handler app:list_posts)``,
    without the file and line when they are unknown."""
    named = f"{subject}, handler {handler_reference(handler)}"
    at = defined_at(handler)
    return f"{at} ({named})" if at else named


def _spec_place(spec: RouteSpec) -> str:
    path = spec.path if isinstance(spec.path, str) else repr(spec.path)
    subject = f"route {path!r}" + (f" (from {spec.source})" if spec.source else "")
    return route_place(subject, spec.handler)


def _route_place(route: Route) -> str:
    return route_place(f"route {route.label}", route.handler)


def _spec_label(spec: RouteSpec) -> str:
    name = getattr(spec.handler, "__qualname__", None) or repr(spec.handler)
    path = spec.path if len(spec.path) <= 80 else f"{spec.path[:50]}...{spec.path[-20:]}"
    if spec.source is not None:
        return f"route {path!r} (from {spec.source})"
    return f"route {path!r} ({name})"


def shortest_request_length(parts: Iterable[PathPart]) -> int:
    """Characters of the shortest request path that reaches a path template."""
    return sum(1 + (1 if part.is_variable else len(part.text)) for part in parts) or 1


def _check_length(label: str, parts: tuple[PathPart, ...], problems: list[str]) -> None:
    length = shortest_request_length(parts)
    if length > URL_LENGTH_LIMIT:
        problems.append(
            f"{label}: too long for API Gateway: its shortest request path has {length} "
            f"characters, and the URL of a request to a regional REST API holds at most "
            f"{URL_LENGTH_LIMIT} (a limit AWS does not raise)"
        )


def quota_warnings(table: RouteTable) -> list[str]:
    """What a table exceeds among API Gateway's quotas that an account can have raised."""
    resources = sum(1 for node in table.tree.nodes() if node.part is not None)
    if resources <= RESOURCES_QUOTA:
        return []
    return [
        f"the API has {resources} resources (one per path part); API Gateway allows "
        f"{RESOURCES_QUOTA} per REST API unless the quota is raised for it (Service Quotas, "
        "'Resources per API'), so a deploy to AWS fails until then; the local cloud does not "
        "enforce it"
    ]


# The verbs whose routing a warning follows (HEAD and OPTIONS go where GET and the
# preflights go, and would only repeat the same lines).
_WARNED_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def routing_warnings(table: RouteTable) -> list[str]:
    """Where a verb a route lacks goes to another route's handler: API Gateway sends it to
    the nearest resource that has the verb (a variable or greedy sibling or ancestor), not
    to a 403. Framework routes that meet another framework route are left out: the app
    routes those requests itself."""
    warnings = []
    for node in table.tree.nodes():
        if not node.methods or "ANY" in node.methods:
            continue
        path = _sample_request_path(node)
        elsewhere: dict[str, list[str]] = {}
        for verb in _WARNED_VERBS:
            if verb in node.methods:
                continue
            found = table.tree.match(path, verb)
            if found.node is None or found.target is None or found.node is node:
                continue
            if not _both_framework_routes(node, found.target):
                elsewhere.setdefault(found.node.path, []).append(verb)
        for other, verbs in elsewhere.items():
            warnings.append(
                f"{'|'.join(verbs)} {node.path} reach {other}, not {node.path} "
                f"({'|'.join(sorted(node.methods))} only): API Gateway sends a verb a resource "
                "lacks to the nearest resource that has it; add the verbs to the route to "
                "keep them there"
            )
    return warnings


def _sample_request_path(node: Node[T]) -> str:
    """A request path that reaches ``node`` (its variables given a value)."""
    parts = compile_path(node.path) if node.part is not None else []
    values = ["teal-sample" if p.is_variable else p.text for p in parts]
    return "/" + "/".join(values)


def _both_framework_routes(node: Node[Route], target: Route) -> bool:
    return all(r.source is not None for r in [*node.methods.values(), target])


def _check_spec(spec: RouteSpec, problems: list[str]) -> Route | None:
    label = _spec_label(spec)
    before = len(problems)
    try:
        parts = compile_path(spec.path)
    except PathSyntaxError as exc:
        problems.append(f"{label}: {exc}")
        parts = ()
    _check_length(label, parts, problems)
    methods = tuple(m.upper() for m in spec.methods)
    if not methods:
        problems.append(f"{label}: no HTTP methods given")
    for method in methods:
        if method not in HTTP_METHODS:
            problems.append(
                f"{label}: unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}"
            )
    for method in set(methods):
        if methods.count(method) > 1:
            problems.append(f"{label}: method {method} listed twice")
    if not callable(spec.handler):
        problems.append(f"{label}: handler {spec.handler!r} is not callable")
    function = spec.function or _default_function_name(spec.handler)
    if not _FUNCTION_NAME.match(function):
        problems.append(
            f"{label}: function name {function!r} must start with a letter and hold at most "
            "40 letters, digits, '-' or '_'"
        )
    _check_access(label, spec, problems)
    if len(problems) > before:
        return None
    return Route(
        spec.path,
        methods,
        spec.handler,
        function,
        spec.raw,
        parts,
        spec.source,
        spec.cors,
        _authorizer_name(spec.authorizer),
        spec.api_key_required,
    )


def _authorizer_name(declared: Any) -> str | None:
    if isinstance(declared, CognitoAuthorizer):
        return declared.name
    return declared if isinstance(declared, str) else None


def _check_access(label: str, spec: RouteSpec, problems: list[str]) -> None:
    """cors=, authorizer= and api_key_required= of one route."""
    if spec.cors is not None and not isinstance(spec.cors, bool | CORSConfig):
        problems.append(f"{label}: cors must be True, False or a CORSConfig (got {spec.cors!r})")
    elif isinstance(spec.cors, CORSConfig):
        problems.extend(f"{label}: cors: {p}" for p in cors_problems(spec.cors))
    if spec.authorizer is not None and not isinstance(spec.authorizer, str | CognitoAuthorizer):
        problems.append(
            f"{label}: authorizer must be the name of an @app.authorizer, "
            f"a CognitoAuthorizer or {IAM!r} (got {spec.authorizer!r})"
        )
    if not isinstance(spec.api_key_required, bool):
        problems.append(f"{label}: api_key_required must be True or False")


def _check_authorizers(
    specs: list[RouteSpec], declared: list[LambdaAuthorizer], found: list[Problem]
) -> dict[str, Authorizer]:
    """Every authorizer by name: declared ones and the routes' Cognito ones, each valid,
    one definition per name, every name a route uses known."""
    known: dict[str, Authorizer] = {}
    users = {id(s.authorizer): s for s in specs}  # a Cognito authorizer: the route naming it
    for authorizer in [*declared, *(s.authorizer for s in specs)]:
        if not isinstance(authorizer, LambdaAuthorizer | CognitoAuthorizer):
            continue
        place = _authorizer_place(authorizer, users.get(id(authorizer)))
        first = known.setdefault(authorizer.name, authorizer)
        if first is authorizer:
            found += [(problem, place) for problem in authorizer_problems(authorizer)]
        elif first != authorizer:
            found.append(
                (
                    f"authorizer {authorizer.name!r} is defined twice, differently; "
                    "give each authorizer a name of its own",
                    place,
                )
            )
    for spec in specs:
        name = spec.authorizer
        if isinstance(name, str) and name != IAM and name not in known:
            found.append(
                (
                    f"{_spec_label(spec)}: no authorizer named {name!r}; declare it with "
                    f"@app.authorizer({name!r}), or use a CognitoAuthorizer or {IAM!r}",
                    _spec_place(spec),
                )
            )
    found += _authorizer_function_clashes(specs, declared)
    return known


def _authorizer_place(authorizer: Authorizer, user: RouteSpec | None) -> str:
    """A Lambda authorizer's handler, or the route that declares a Cognito authorizer."""
    if isinstance(authorizer, LambdaAuthorizer):
        return route_place(f"authorizer {authorizer.name!r}", authorizer.handler)
    return _spec_place(user) if user is not None else f"authorizer {authorizer.name!r}"


def _authorizer_function_clashes(
    specs: list[RouteSpec], declared: list[LambdaAuthorizer]
) -> list[Problem]:
    """A Lambda authorizer runs in a function of its own: no route's, no other authorizer's."""
    route_functions = {s.function or _default_function_name(s.handler) for s in specs}
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for authorizer in declared:
        function = authorizer.function
        place = _authorizer_place(authorizer, None)
        if not _FUNCTION_NAME.match(function):
            problems.append(
                (
                    f"authorizer {authorizer.name!r}: function name {function!r} must start "
                    "with a letter and hold at most 40 letters, digits, '-' or '_'",
                    place,
                )
            )
        if function in route_functions or seen.setdefault(function, authorizer.name) != (
            authorizer.name
        ):
            problems.append(
                (
                    f"authorizer {authorizer.name!r}: function {function!r} serves something "
                    "else too; an authorizer runs in a function of its own (pass function='...')",
                    place,
                )
            )
    return problems


def _default_function_name(handler: Any) -> str:
    name = str(getattr(handler, "__name__", "handler"))
    return name.replace("<", "").replace(">", "") or "handler"


def _check_conflicts(routes: list[Route]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Route] = {}
    for route in routes:
        for method in route.methods:
            other = seen.setdefault((route.path, method), route)
            if other is not route:
                problems.append(
                    (
                        f"duplicate route {method} {route.path}: declared by "
                        f"{other.handler_name} and {route.handler_name}",
                        _route_place(route),
                    )
                )
    problems.extend(_check_sibling_variables(routes))
    problems.extend(_check_function_kinds(routes))
    return problems


def _check_sibling_variables(routes: list[Route]) -> list[Problem]:
    """API Gateway allows one variable child per resource (greedy or not)."""
    first_at: dict[str, tuple[str, Route]] = {}
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for route in routes:
        parent = "/"
        for part in route.parts:
            if part.is_variable:
                known = first_at.setdefault(parent, (part.text, route))
                if known[0] != part.text and (parent, part.text) not in reported:
                    reported.add((parent, part.text))
                    problems.append(
                        (
                            f"routes {known[1].label} and {route.label} put two different "
                            f"variables, {known[0]} and {part.text}, under {parent}: API "
                            "Gateway allows only one variable path part per parent; use the "
                            "same name in both",
                            _route_place(route),
                        )
                    )
            parent = _child_path(parent, part.text)
    return problems


def _check_function_kinds(routes: list[Route]) -> list[Problem]:
    """Routes sharing a function must agree on raw mode (one Lambda, one calling style)."""
    raw_by_function: dict[str, bool] = {}
    problems: list[Problem] = []
    for route in routes:
        known = raw_by_function.setdefault(route.function, route.raw)
        if known != route.raw:
            problems.append(
                (
                    f"route {route.path!r}: function {route.function!r} mixes raw=True and "
                    "raw=False handlers; give the raw handlers a function of their own",
                    _route_place(route),
                )
            )
    return problems
