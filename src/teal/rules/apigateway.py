"""API Gateway's (REST API) rules, in one place.

The change analyzer simulates stack updates against :class:`ApiModel`, and
the local cloud's API Gateway *is* an :class:`ApiModel` per RestApi, so a
change that fails on AWS fails in both, with AWS's own message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from teal.runtime.routes import HTTP_METHODS, PathPart, PathSyntaxError, parse_part

STAGE_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
# A base path (an API mapping's path) holds letters, digits and $-_.+!*'() in each of
# its levels, joined by '/', at most 300 characters in all (AWS's developer guide:
# "Use API mappings to connect API stages to a custom domain name for REST APIs").
_BASE_PATH_LEVEL = r"[A-Za-z0-9$_.+!*'()-]+"
BASE_PATH = re.compile(rf"^({_BASE_PATH_LEVEL}(/{_BASE_PATH_LEVEL})*)?$")
BASE_PATH_LIMIT = 300
BASE_PATH_CHARACTERS = "letters, digits and $-_.+!*'()"


class Rule(Enum):
    """Which API Gateway rule a change breaks (stable names for scripts)."""

    DUPLICATE_PATH_PART = "duplicate-path-part"
    SIBLING_VARIABLE = "sibling-variable"
    GREEDY_PARENT = "greedy-parent"
    INVALID_PATH_PART = "invalid-path-part"
    DUPLICATE_METHOD = "duplicate-method"
    INVALID_METHOD = "invalid-method"
    NOT_FOUND = "not-found"
    DUPLICATE_BASE_PATH = "duplicate-base-path"
    INVALID_BASE_PATH = "invalid-base-path"
    INVALID_STAGE_NAME = "invalid-stage-name"
    MAPPED = "mapped"  # a stage or RestApi that a custom domain maps cannot be deleted
    ROUTING_MODE = "routing-mode"  # a routing rule on a domain that routes by mappings only
    DUPLICATE_PRIORITY = "duplicate-priority"  # two routing rules of a domain, one priority
    INVALID_PRIORITY = "invalid-priority"


_STATUS = {"ConflictException": 409, "BadRequestException": 400, "NotFoundException": 404}


class ApiGatewayError(Exception):
    """An API Gateway refusal: error code, AWS's message and the rule broken."""

    def __init__(self, code: str, message: str, rule: Rule) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.rule = rule

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)

    def as_stack_reason(self) -> str:
        """The resource status reason CloudFormation shows for this failure."""
        return (
            f"{self.message} (Service: ApiGateway, Status Code: {self.status}, "
            f"Error Code: {self.code})"
        )


def duplicate_path_part(part: str) -> ApiGatewayError:
    return ApiGatewayError(
        "ConflictException",
        f"Another resource with the same parent already has this name: {part}",
        Rule.DUPLICATE_PATH_PART,
    )


def sibling_variable(existing: str) -> ApiGatewayError:
    return ApiGatewayError(
        "BadRequestException",
        f"A sibling ({existing}) of this resource already has a variable path part "
        "-- only one is allowed",
        Rule.SIBLING_VARIABLE,
    )


def greedy_parent(parent: str) -> ApiGatewayError:
    return ApiGatewayError(
        "BadRequestException",
        f"Cannot create a child of a resource with a greedy path variable: {parent}",
        Rule.GREEDY_PARENT,
    )


def duplicate_method() -> ApiGatewayError:
    return ApiGatewayError(
        "ConflictException", "Method already exists for this resource", Rule.DUPLICATE_METHOD
    )


def duplicate_base_path() -> ApiGatewayError:
    return ApiGatewayError(
        "ConflictException",
        "Base path already exists for this domain name",
        Rule.DUPLICATE_BASE_PATH,
    )


def not_found(what: str) -> ApiGatewayError:
    return ApiGatewayError("NotFoundException", f"Invalid {what} specified", Rule.NOT_FOUND)


def check_path_part(text: str) -> PathPart:
    try:
        return parse_part(text)
    except PathSyntaxError as exc:
        raise ApiGatewayError(
            "BadRequestException",
            f"Resource's path part {text!r} is invalid: {exc}",
            Rule.INVALID_PATH_PART,
        ) from exc


def check_http_method(verb: str) -> str:
    if verb.upper() not in HTTP_METHODS:
        raise ApiGatewayError(
            "BadRequestException", f"Invalid HttpMethod specified: {verb}", Rule.INVALID_METHOD
        )
    return verb.upper()


def check_stage_name(name: str) -> str:
    if not STAGE_NAME.match(name):
        raise ApiGatewayError(
            "BadRequestException",
            "Stage name only allows a-zA-Z0-9_",
            Rule.INVALID_STAGE_NAME,
        )
    return name


def normalize_base_path(base_path: str | None) -> str:
    """``""`` and ``"(none)"`` both mean the root mapping, which AWS shows as ``(none)``."""
    path = (base_path or "").strip("/")
    if path == "(none)":
        path = ""
    if not base_path_accepted(path):
        raise ApiGatewayError(
            "BadRequestException",
            f"Invalid base path: {base_path!r}",
            Rule.INVALID_BASE_PATH,
        )
    return path


def base_path_accepted(path: str) -> bool:
    """Whether API Gateway takes ``path`` (no '/' around it; "" the root) as a base path."""
    return len(path) <= BASE_PATH_LIMIT and BASE_PATH.match(path) is not None


def check_new_base_path(existing: set[str], base_path: str) -> None:
    if normalize_base_path(base_path) in {normalize_base_path(p) for p in existing}:
        raise duplicate_base_path()


# Routing rules of custom domains ------------------------------------------------
#
# AWS's developer guide, "Routing rules to connect API stages to a custom domain
# name for REST APIs": a domain routes by base path mappings only until its
# routing mode lets rules go first; rules are evaluated by priority (1 to
# 1,000,000, the lowest first, each priority once per domain); a rule matches when
# all its conditions do: a header condition (any of its header values: the name in
# any case, the value glob exactly, ``*`` allowed as a prefix, a suffix or both)
# and a base path condition (any of its base paths, case-sensitive). The messages
# below are teal's words: AWS's exact ones are not documented.

# The routing modes as the REST API (``apigateway``) names them; apigatewayv2 and the
# console call the second one ROUTING_RULE_THEN_API_MAPPING.
MAPPINGS_ONLY = "BASE_PATH_MAPPING_ONLY"
RULES_THEN_MAPPINGS = "ROUTING_RULE_THEN_BASE_PATH_MAPPING"
RULES_ONLY = "ROUTING_RULE_ONLY"
MAX_RULE_PRIORITY = 1_000_000


def check_rule_priority(priority: int, taken: set[int]) -> None:
    if not 1 <= priority <= MAX_RULE_PRIORITY:
        raise ApiGatewayError(
            "BadRequestException",
            f"Invalid priority {priority}: a routing rule's priority is 1 to {MAX_RULE_PRIORITY}",
            Rule.INVALID_PRIORITY,
        )
    if priority in taken:
        raise ApiGatewayError(
            "ConflictException",
            f"Another routing rule of this domain name already has priority {priority}",
            Rule.DUPLICATE_PRIORITY,
        )


def check_rules_allowed(routing_mode: str) -> None:
    if routing_mode == MAPPINGS_ONLY:
        raise ApiGatewayError(
            "BadRequestException",
            f"The domain name's routing mode is {MAPPINGS_ONLY}: it takes no routing rules",
            Rule.ROUTING_MODE,
        )


def header_value_matches(glob: str, value: str) -> bool:
    """A header condition's value glob against a value: exact, or ``*`` as a prefix
    (``*-beta``), a suffix (``a*``) or both (``*beta*``); case-sensitive."""
    starts, ends = glob.startswith("*"), glob.endswith("*") and len(glob) > 1
    core = glob[1 if starts else 0 : -1 if ends else None]
    if starts and ends:
        return core in value
    if starts:
        return value.endswith(core)
    if ends:
        return value.startswith(core)
    return value == glob


def headers_match(wanted: Sequence[tuple[str, str]], sent: Sequence[tuple[str, str]]) -> bool:
    """Whether a request's headers meet a header condition: any of its (name, glob)."""
    return any(
        name.lower() == sent_name.lower() and header_value_matches(glob, sent_value)
        for name, glob in wanted
        for sent_name, sent_value in sent
    )


def base_path_prefix(base_path: str, path: str) -> str | None:
    """The part of ``path`` that ``base_path`` matches (``/v1`` of ``/v1/posts``), ``""``
    for the root, or None when the path does not start with it."""
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        return None
    return prefix


def stage_endpoint(api_id: str, region: str, stage: str) -> str:
    """The invoke URL AWS gives a stage."""
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}/"


P = TypeVar("P")


@dataclass
class ApiResource(Generic[P]):
    id: str
    parent_id: str | None
    part: PathPart | None  # None for the root resource "/"
    children: dict[str, str] = field(default_factory=dict)  # path part -> id
    methods: dict[str, P] = field(default_factory=dict)


def counter_ids(prefix: str = "r") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


class ApiModel(Generic[P]):
    """One RestApi's resource tree and methods, enforcing API Gateway's rules.

    ``P`` is whatever a method carries (an integration, a logical id...).
    """

    def __init__(self, new_id: Callable[[], str] | None = None, root_id: str = "root") -> None:
        self._new_id = new_id or counter_ids()
        self.root_id = root_id
        self.resources: dict[str, ApiResource[P]] = {root_id: ApiResource(root_id, None, None)}
        self._paths: dict[str, str] = {}  # resource id -> path, filled by path_of

    def resource(self, resource_id: str) -> ApiResource[P]:
        found = self.resources.get(resource_id)
        if found is None:
            raise not_found("resource identifier")
        return found

    def path_of(self, resource_id: str) -> str:
        """The resource's full path; remembered, since a resource never moves.

        Walking up to the root for every call made reading a deep API quadratic.
        """
        chain: list[tuple[str, str]] = []  # (id, path part) of the ancestors not known yet
        prefix = ""
        node_id, node = resource_id, self.resource(resource_id)
        while node.part is not None and node.parent_id is not None:
            known = self._paths.get(node_id)
            if known is not None:
                prefix = known
                break
            chain.append((node_id, node.part.text))
            node_id, node = node.parent_id, self.resource(node.parent_id)
        for ancestor_id, text in reversed(chain):
            prefix = f"{prefix}/{text}"
            self._paths[ancestor_id] = prefix
        return prefix or "/"

    def create_resource(
        self, parent_id: str, path_part: str, resource_id: str | None = None
    ) -> str:
        parent = self.resource(parent_id)
        part = check_path_part(path_part)
        if parent.part is not None and parent.part.text.endswith("+}"):
            raise greedy_parent(parent.part.text)
        if part.text in parent.children:
            raise duplicate_path_part(part.text)
        if part.is_variable:
            for sibling_text in parent.children:
                if sibling_text.startswith("{"):
                    raise sibling_variable(sibling_text)
        new_id = resource_id or self._new_id()
        self.resources[new_id] = ApiResource(new_id, parent_id, part)
        parent.children[part.text] = new_id
        return new_id

    def delete_resource(self, resource_id: str) -> None:
        """Delete a resource with its descendants and their methods, as API Gateway does."""
        node = self.resource(resource_id)
        if node.parent_id is None:
            raise ApiGatewayError(
                "BadRequestException", "Cannot delete root resource", Rule.NOT_FOUND
            )
        parent = self.resources.get(node.parent_id)
        if parent is not None and node.part is not None:
            parent.children.pop(node.part.text, None)
        doomed = [resource_id]  # a loop, not recursion: a path may be thousands of parts deep
        while doomed:
            gone_id = doomed.pop()
            gone = self.resources.pop(gone_id)
            self._paths.pop(gone_id, None)
            doomed.extend(gone.children.values())

    def put_method(self, resource_id: str, verb: str, payload: P) -> None:
        node = self.resource(resource_id)
        verb = check_http_method(verb)
        if verb in node.methods:
            raise duplicate_method()
        node.methods[verb] = payload

    def update_method(self, resource_id: str, verb: str, payload: P) -> None:
        node = self.resource(resource_id)
        if verb.upper() not in node.methods:
            raise not_found("Method identifier")
        node.methods[verb.upper()] = payload

    def delete_method(self, resource_id: str, verb: str) -> None:
        node = self.resource(resource_id)
        if node.methods.pop(verb.upper(), None) is None:
            raise not_found("Method identifier")

    def endpoints(self) -> Iterator[tuple[str, str, P]]:
        """(path, verb, payload) of every method: what a deployment snapshots."""
        for resource_id in sorted(self.resources, key=self.path_of):
            node = self.resources[resource_id]
            path = self.path_of(resource_id)
            for verb in sorted(node.methods):
                yield path, verb, node.methods[verb]
