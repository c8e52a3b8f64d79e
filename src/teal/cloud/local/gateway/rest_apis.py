"""The local API Gateway: RestApis as :class:`teal.rules.apigateway.ApiModel`, persisted in SQLite.

Each change goes through the RestApi's ``ApiModel`` (so the rules and messages
are those of :mod:`teal.rules.apigateway`) and writes the rows it changed, inside the
caller's transaction. Deployments are snapshots of the routes; stages point
at deployments; custom domains and base path mappings live here too.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from teal.cloud.base import BasePathMapping, RoutingRule
from teal.cloud.local.ids import random_id
from teal.cloud.local.model import (
    AuthorizerSpec,
    DomainRoute,
    GatewayResponseSpec,
    MockAnswer,
    RouteIntegration,
    ServedStage,
)
from teal.cloud.local.store import bump_generation, from_json, to_json
from teal.rules.apigateway import (
    MAPPINGS_ONLY,
    ApiGatewayError,
    ApiModel,
    ApiResource,
    Rule,
    check_new_base_path,
    check_rule_priority,
    check_rules_allowed,
    check_stage_name,
    normalize_base_path,
    not_found,
)
from teal.runtime.routes import parse_part

# {"type", "uri", "function_arn"}, and for access: "authorization", "authorizer_id",
# "api_key_required", and a MOCK integration's answer as "mock": {"status", "headers"}
MethodPayload = dict[str, Any]
# create_mapping / update_mapping: (conn, domain, base path, api id, stage)
MappingCall = Callable[[sqlite3.Connection, str, str, str, str], None]
_LAMBDA_URI = re.compile(r"^arn:aws:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations$")


def function_arn_of_uri(uri: str | None) -> str | None:
    """The Lambda ARN inside a proxy integration URI, or None for any other URI."""
    match = _LAMBDA_URI.match(uri or "")
    return match.group(1) if match else None


# RestApis -------------------------------------------------------------------
#
# A RestApi is a row of rest_apis, each of its resources a row of api_resources
# and each method a row of api_methods: a change writes the rows it changes,
# whatever the size of the API, so applying a stack stays linear in its size.


def create_api(
    conn: sqlite3.Connection, name: str, region: str, binary_media_types: Sequence[str] = ()
) -> tuple[str, str]:
    """A new RestApi in ``region``; returns (api id, root resource id)."""
    api_id, root_id = random_id(), random_id()
    conn.execute(
        "INSERT INTO rest_apis (id, name, root_id, model_tag, binary_media_types, region) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (api_id, name, root_id, uuid.uuid4().hex, to_json(list(binary_media_types)), region),
    )
    conn.execute(
        "INSERT INTO api_resources (api_id, id, parent_id, part) VALUES (?, ?, NULL, NULL)",
        (api_id, root_id),
    )
    return api_id, root_id


def rename_api(conn: sqlite3.Connection, api_id: str, name: str) -> None:
    _require_api(conn, api_id)
    conn.execute("UPDATE rest_apis SET name = ? WHERE id = ?", (name, api_id))


def binary_media_types(conn: sqlite3.Connection, api_id: str) -> list[str]:
    """The RestApi's binaryMediaTypes now (a new deployment snapshots them)."""
    _require_api(conn, api_id)
    row = conn.execute(
        "SELECT binary_media_types FROM rest_apis WHERE id = ?", (api_id,)
    ).fetchone()
    return list(from_json(row[0]))


def set_binary_media_types(conn: sqlite3.Connection, api_id: str, types: Sequence[str]) -> None:
    """Replace the RestApi's binaryMediaTypes; stages see them from their next deployment."""
    _require_api(conn, api_id)
    conn.execute(
        "UPDATE rest_apis SET binary_media_types = ? WHERE id = ?",
        (to_json(list(types)), api_id),
    )


def delete_api(conn: sqlite3.Connection, api_id: str) -> None:
    """Delete the RestApi; refused, as AWS does, while a domain maps it."""
    domains = sorted({m.domain for m in mappings_to_api(conn, api_id)})
    if domains:
        raise ApiGatewayError(
            "BadRequestException",
            f"Deleting RestApi {api_id} failed. Please remove all base path mappings related "
            f"to the RestApi in your domains: {', '.join(domains)}",
            Rule.MAPPED,
        )
    conn.execute("DELETE FROM rest_apis WHERE id = ?", (api_id,))
    for table in (
        "api_resources",
        "api_methods",
        "deployments",
        "stages",
        "api_authorizers",
        "api_gateway_responses",
    ):
        conn.execute(f"DELETE FROM {table} WHERE api_id = ?", (api_id,))
    _parsed.pop((id(conn), api_id), None)
    bump_generation(conn)


# Models by (connection, api id), with the tag of the stored version they
# reflect: a stack applies thousands of resources to one API, and reading the
# whole tree for each would make an apply quadratic. A random tag per change
# means a model changed by another process, or by a transaction that rolled
# back, is never mistaken for the cached one.
_parsed: dict[tuple[int, str], tuple[str, ApiModel[MethodPayload]]] = {}


def _require_api(conn: sqlite3.Connection, api_id: str) -> tuple[str, str]:
    """The API's (root resource id, tag); API Gateway's NotFound when there is none."""
    row = conn.execute(
        "SELECT root_id, model_tag FROM rest_apis WHERE id = ?", (api_id,)
    ).fetchone()
    if row is None:
        raise not_found("API identifier")
    return row[0], row[1]


def load_api(conn: sqlite3.Connection, api_id: str) -> ApiModel[MethodPayload]:
    """The API's model, to read only (the functions below change it)."""
    root_id, tag = _require_api(conn, api_id)
    cached = _parsed.get((id(conn), api_id))
    if cached is not None and cached[0] == tag:
        return cached[1]
    model = _read_model(conn, api_id, root_id)
    _parsed[(id(conn), api_id)] = (tag, model)
    return model


def _read_model(conn: sqlite3.Connection, api_id: str, root_id: str) -> ApiModel[MethodPayload]:
    model: ApiModel[MethodPayload] = ApiModel(new_id=random_id, root_id=root_id)
    rows = conn.execute(
        "SELECT id, parent_id, part FROM api_resources WHERE api_id = ?", (api_id,)
    ).fetchall()
    model.resources = {
        resource_id: ApiResource(
            resource_id, parent_id, parse_part(part) if part is not None else None
        )
        for resource_id, parent_id, part in rows
    }
    for node in model.resources.values():
        if node.parent_id is not None and node.part is not None:
            model.resources[node.parent_id].children[node.part.text] = node.id
    methods = conn.execute(
        "SELECT resource_id, verb, payload FROM api_methods WHERE api_id = ?", (api_id,)
    )
    for resource_id, verb, payload in methods:
        model.resources[resource_id].methods[verb] = from_json(payload)
    return model


@contextmanager
def _changing(conn: sqlite3.Connection, api_id: str) -> Iterator[ApiModel[MethodPayload]]:
    """The API's model, to change in place while the caller writes the rows it changed.

    Runs inside the caller's transaction; the API's tag changes with the rows.
    """
    model = load_api(conn, api_id)
    key = (id(conn), api_id)
    del _parsed[key]  # until the change is written, the cached model is not the stored one
    yield model
    tag = uuid.uuid4().hex
    conn.execute("UPDATE rest_apis SET model_tag = ? WHERE id = ?", (tag, api_id))
    _parsed[key] = (tag, model)


def create_resource(conn: sqlite3.Connection, api_id: str, parent_id: str, path_part: str) -> str:
    with _changing(conn, api_id) as model:
        resource_id = model.create_resource(parent_id, path_part)
        part = model.resources[resource_id].part
        conn.execute(
            "INSERT INTO api_resources (api_id, id, parent_id, part) VALUES (?, ?, ?, ?)",
            (api_id, resource_id, parent_id, part.text if part is not None else None),
        )
    return resource_id


def delete_resource(conn: sqlite3.Connection, api_id: str, resource_id: str) -> None:
    """Delete a resource with its descendants and their methods, as API Gateway does."""
    with _changing(conn, api_id) as model:
        doomed = [(api_id, doomed_id) for doomed_id in _subtree(model, resource_id)]
        model.delete_resource(resource_id)
        conn.executemany("DELETE FROM api_resources WHERE api_id = ? AND id = ?", doomed)
        conn.executemany("DELETE FROM api_methods WHERE api_id = ? AND resource_id = ?", doomed)


def _subtree(model: ApiModel[MethodPayload], resource_id: str) -> list[str]:
    found, pending = [], [resource_id]
    while pending:
        node = model.resource(pending.pop())
        found.append(node.id)
        pending.extend(node.children.values())
    return found


def put_method(
    conn: sqlite3.Connection, api_id: str, resource_id: str, verb: str, payload: MethodPayload
) -> None:
    _check_authorizer_of(conn, api_id, payload)
    with _changing(conn, api_id) as model:
        model.put_method(resource_id, verb, payload)
        conn.execute(
            "INSERT INTO api_methods (api_id, resource_id, verb, payload) VALUES (?, ?, ?, ?)",
            (api_id, resource_id, verb.upper(), to_json(payload)),
        )


def update_method(
    conn: sqlite3.Connection, api_id: str, resource_id: str, verb: str, payload: MethodPayload
) -> None:
    _check_authorizer_of(conn, api_id, payload)
    with _changing(conn, api_id) as model:
        model.update_method(resource_id, verb, payload)
        conn.execute(
            "UPDATE api_methods SET payload = ? WHERE api_id = ? AND resource_id = ? AND verb = ?",
            (to_json(payload), api_id, resource_id, verb.upper()),
        )


def delete_method(conn: sqlite3.Connection, api_id: str, resource_id: str, verb: str) -> None:
    with _changing(conn, api_id) as model:
        model.delete_method(resource_id, verb)
        conn.execute(
            "DELETE FROM api_methods WHERE api_id = ? AND resource_id = ? AND verb = ?",
            (api_id, resource_id, verb.upper()),
        )


def _check_authorizer_of(conn: sqlite3.Connection, api_id: str, payload: MethodPayload) -> None:
    """A method checked by an authorizer names one of its API's authorizers."""
    if payload.get("authorization") not in ("CUSTOM", "COGNITO_USER_POOLS"):
        return
    found = conn.execute(
        "SELECT 1 FROM api_authorizers WHERE api_id = ? AND id = ?",
        (api_id, payload.get("authorizer_id")),
    ).fetchone()
    if found is None:
        raise ApiGatewayError(
            "BadRequestException",
            "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
            "COGNITO_USER_POOLS requires a valid authorizer.",
            Rule.NOT_FOUND,
        )


# Authorizers and gateway responses --------------------------------------------
#
# Both belong to a RestApi and reach clients through its next deployment, which
# snapshots them with the methods.


def create_authorizer(conn: sqlite3.Connection, api_id: str, spec: dict[str, Any]) -> str:
    _require_api(conn, api_id)
    authorizer_id = random_id(6)
    conn.execute(
        "INSERT INTO api_authorizers (api_id, id, spec) VALUES (?, ?, ?)",
        (api_id, authorizer_id, to_json(spec)),
    )
    return authorizer_id


def update_authorizer(
    conn: sqlite3.Connection, api_id: str, authorizer_id: str, spec: dict[str, Any]
) -> None:
    conn.execute(
        "UPDATE api_authorizers SET spec = ? WHERE api_id = ? AND id = ?",
        (to_json(spec), api_id, authorizer_id),
    )


def delete_authorizer(conn: sqlite3.Connection, api_id: str, authorizer_id: str) -> None:
    conn.execute("DELETE FROM api_authorizers WHERE api_id = ? AND id = ?", (api_id, authorizer_id))


def put_gateway_response(
    conn: sqlite3.Connection, api_id: str, response_type: str, spec: dict[str, Any]
) -> None:
    _require_api(conn, api_id)
    conn.execute(
        "INSERT INTO api_gateway_responses (api_id, type, spec) VALUES (?, ?, ?) "
        "ON CONFLICT (api_id, type) DO UPDATE SET spec = excluded.spec",
        (api_id, response_type, to_json(spec)),
    )


def delete_gateway_response(conn: sqlite3.Connection, api_id: str, response_type: str) -> None:
    conn.execute(
        "DELETE FROM api_gateway_responses WHERE api_id = ? AND type = ?", (api_id, response_type)
    )


# API keys and usage plans ----------------------------------------------------
#
# They act at once, with no deployment: each change bumps the serving generation.

_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def create_api_key(
    conn: sqlite3.Connection, name: str, enabled: bool, value: str | None
) -> tuple[str, str]:
    """A new key, its value generated as API Gateway does when none is given: (id, value)."""
    value = value or "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
    if conn.execute("SELECT 1 FROM api_keys WHERE value = ?", (value,)).fetchone():
        raise ApiGatewayError("ConflictException", "API Key already exists", Rule.NOT_FOUND)
    key_id = random_id()
    conn.execute(
        "INSERT INTO api_keys (id, name, value, enabled) VALUES (?, ?, ?, ?)",
        (key_id, name, value, int(enabled)),
    )
    bump_generation(conn)
    return key_id, value


def update_api_key(conn: sqlite3.Connection, key_id: str, name: str, enabled: bool) -> None:
    conn.execute(
        "UPDATE api_keys SET name = ?, enabled = ? WHERE id = ?", (name, int(enabled), key_id)
    )
    bump_generation(conn)


def delete_api_key(conn: sqlite3.Connection, key_id: str) -> None:
    conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
    conn.execute("DELETE FROM usage_plan_keys WHERE key_id = ?", (key_id,))
    bump_generation(conn)


def api_key_value(conn: sqlite3.Connection, key_id: str) -> str | None:
    row = conn.execute("SELECT value FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return None if row is None else str(row[0])


def put_usage_plan(
    conn: sqlite3.Connection, plan_id: str | None, name: str, stages: list[tuple[str, str]]
) -> str:
    """Create (``plan_id`` None) or update a usage plan of (api id, stage) pairs."""
    for api_id, stage in stages:
        _require_stage(conn, api_id, stage)
    plan_id = plan_id or random_id(6)
    conn.execute(
        "INSERT INTO usage_plans (id, name, stages) VALUES (?, ?, ?) ON CONFLICT (id) DO "
        "UPDATE SET name = excluded.name, stages = excluded.stages",
        (plan_id, name, to_json([list(pair) for pair in stages])),
    )
    bump_generation(conn)
    return plan_id


def delete_usage_plan(conn: sqlite3.Connection, plan_id: str) -> None:
    conn.execute("DELETE FROM usage_plans WHERE id = ?", (plan_id,))
    conn.execute("DELETE FROM usage_plan_keys WHERE plan_id = ?", (plan_id,))
    bump_generation(conn)


def add_usage_plan_key(conn: sqlite3.Connection, plan_id: str, key_id: str) -> None:
    if not conn.execute("SELECT 1 FROM usage_plans WHERE id = ?", (plan_id,)).fetchone():
        raise not_found("usage plan identifier")
    if not conn.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone():
        raise not_found("API Key identifier")
    conn.execute(
        "INSERT OR IGNORE INTO usage_plan_keys (plan_id, key_id) VALUES (?, ?)", (plan_id, key_id)
    )
    bump_generation(conn)


def remove_usage_plan_key(conn: sqlite3.Connection, plan_id: str, key_id: str) -> None:
    conn.execute("DELETE FROM usage_plan_keys WHERE plan_id = ? AND key_id = ?", (plan_id, key_id))
    bump_generation(conn)


def accepted_api_key(conn: sqlite3.Connection, api_id: str, stage: str, value: str) -> str | None:
    """The id of the enabled key with this value that a usage plan of the stage holds."""
    rows = conn.execute(
        "SELECT k.id, p.stages FROM api_keys k JOIN usage_plan_keys pk ON pk.key_id = k.id "
        "JOIN usage_plans p ON p.id = pk.plan_id WHERE k.value = ? AND k.enabled = 1",
        (value,),
    ).fetchall()
    for key_id, stages in rows:
        if [api_id, stage] in from_json(stages):
            return str(key_id)
    return None


# Deployments and stages -----------------------------------------------------


def create_deployment(conn: sqlite3.Connection, api_id: str) -> str:
    """Snapshot the API's methods now, with its authorizers, gateway responses and binary
    media types; that is what a stage on it serves."""
    model = load_api(conn, api_id)
    routes = [_snapshot_route(path, verb, payload) for path, verb, payload in model.endpoints()]
    if not routes:
        raise ApiGatewayError(
            "BadRequestException", "The REST API doesn't contain any methods", Rule.NOT_FOUND
        )
    deployment_id = random_id()
    conn.execute(
        "INSERT INTO deployments (id, api_id, routes, binary_media_types, authorizers, "
        "gateway_responses) VALUES (?, ?, ?, ?, ?, ?)",
        (
            deployment_id,
            api_id,
            to_json(routes),
            to_json(binary_media_types(conn, api_id)),
            to_json(_rows_by_key(conn, "api_authorizers", "id", api_id)),
            to_json(_rows_by_key(conn, "api_gateway_responses", "type", api_id)),
        ),
    )
    return deployment_id


def _snapshot_route(path: str, verb: str, payload: MethodPayload) -> dict[str, Any]:
    route = {"path": path, "verb": verb, "function_arn": payload.get("function_arn")}
    for key in ("authorization", "authorizer_id", "api_key_required", "mock"):
        if payload.get(key):  # written only when set: older snapshots read the same
            route[key] = payload[key]
    return route


def _rows_by_key(conn: sqlite3.Connection, table: str, key: str, api_id: str) -> dict[str, Any]:
    rows = conn.execute(f"SELECT {key}, spec FROM {table} WHERE api_id = ?", (api_id,))
    return {row[0]: from_json(row[1]) for row in rows}


def delete_deployment(conn: sqlite3.Connection, api_id: str, deployment_id: str) -> None:
    in_use = conn.execute(
        "SELECT 1 FROM stages WHERE api_id = ? AND deployment_id = ?", (api_id, deployment_id)
    ).fetchone()
    if in_use:
        raise ApiGatewayError(
            "BadRequestException",
            "Active stages pointing to this deployment must be moved or deleted",
            Rule.NOT_FOUND,
        )
    conn.execute("DELETE FROM deployments WHERE id = ?", (deployment_id,))


def _check_deployment(conn: sqlite3.Connection, api_id: str, deployment_id: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM deployments WHERE id = ? AND api_id = ?", (deployment_id, api_id)
    ).fetchone()
    if not found:
        raise not_found("deployment identifier")


def put_stage(
    conn: sqlite3.Connection,
    api_id: str,
    name: str,
    deployment_id: str,
    variables: dict[str, str],
    *,
    create: bool,
) -> None:
    check_stage_name(name)
    _require_api(conn, api_id)
    _check_deployment(conn, api_id, deployment_id)
    exists = conn.execute(
        "SELECT 1 FROM stages WHERE api_id = ? AND name = ?", (api_id, name)
    ).fetchone()
    if create and exists:
        raise ApiGatewayError("ConflictException", "Stage already exists", Rule.NOT_FOUND)
    if not create and not exists:
        raise not_found("stage identifier")
    conn.execute(
        "INSERT INTO stages (api_id, name, deployment_id, variables) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (api_id, name) DO UPDATE SET deployment_id = excluded.deployment_id, "
        "variables = excluded.variables",
        (api_id, name, deployment_id, to_json(variables)),
    )
    bump_generation(conn)


def delete_stage(conn: sqlite3.Connection, api_id: str, name: str) -> None:
    """Delete the stage; refused, as AWS does, while a domain maps it."""
    if any(m.stage == name for m in mappings_to_api(conn, api_id)):
        raise ApiGatewayError(
            "BadRequestException",
            f"Deleting stage {name} failed. Please remove all base path mappings related to "
            "the stage in your domains.",
            Rule.MAPPED,
        )
    conn.execute("DELETE FROM stages WHERE api_id = ? AND name = ?", (api_id, name))
    bump_generation(conn)


def served_stage(conn: sqlite3.Connection, api_id: str, name: str) -> ServedStage | None:
    row = conn.execute(
        "SELECT s.deployment_id, s.variables, d.routes, d.binary_media_types, d.authorizers, "
        "d.gateway_responses, a.region FROM stages s JOIN deployments d ON d.id = s.deployment_id "
        "JOIN rest_apis a ON a.id = s.api_id WHERE s.api_id = ? AND s.name = ?",
        (api_id, name),
    ).fetchone()
    if row is None:
        return None
    routes = tuple(_served_route(item) for item in from_json(row["routes"]))
    authorizers = {
        key: _authorizer_spec(key, spec) for key, spec in from_json(row["authorizers"]).items()
    }
    responses = {
        kind: GatewayResponseSpec(
            kind, spec.get("status"), tuple((k, v) for k, v in spec.get("headers", []))
        )
        for kind, spec in from_json(row["gateway_responses"]).items()
    }
    return ServedStage(
        api_id,
        name,
        row["deployment_id"],
        routes,
        from_json(row["variables"]),
        tuple(from_json(row["binary_media_types"])),
        authorizers,
        responses,
        row["region"],
    )


def _authorizer_spec(authorizer_id: str, spec: dict[str, Any]) -> AuthorizerSpec:
    return AuthorizerSpec(
        authorizer_id,
        str(spec["name"]),
        str(spec["type"]),
        spec.get("function_arn"),
        tuple(spec.get("identity_sources") or ()),
        int(spec.get("ttl_s", 300)),
        spec.get("validation"),
        tuple(spec.get("provider_arns") or ()),
    )


def _served_route(item: dict[str, Any]) -> RouteIntegration:
    mock = item.get("mock")
    return RouteIntegration(
        item["path"],
        item["verb"],
        item["function_arn"],
        item.get("authorization") or "NONE",
        item.get("authorizer_id"),
        bool(item.get("api_key_required")),
        MockAnswer(int(mock["status"]), tuple((k, v) for k, v in mock["headers"]))
        if mock
        else None,
    )


# Custom domains and base path mappings --------------------------------------


@dataclass(frozen=True)
class DomainRecord:
    name: str
    port: int
    tags: dict[str, str]
    routing_mode: str = MAPPINGS_ONLY
    # what the domain was made with: certificate_arn, hosted_zone, endpoint_type
    settings: dict[str, str] = field(default_factory=dict)


_DOMAIN_COLUMNS = "name, port, tags, routing_mode, settings"


def _domain_record(row: Sequence[Any]) -> DomainRecord:
    return DomainRecord(row[0], row[1], from_json(row[2]), row[3], from_json(row[4]) or {})


def get_domain(conn: sqlite3.Connection, name: str) -> DomainRecord | None:
    row = conn.execute(f"SELECT {_DOMAIN_COLUMNS} FROM domains WHERE name = ?", (name,)).fetchone()
    return None if row is None else _domain_record(row)


def all_domains(conn: sqlite3.Connection) -> list[DomainRecord]:
    rows = conn.execute(f"SELECT {_DOMAIN_COLUMNS} FROM domains ORDER BY name")
    return [_domain_record(row) for row in rows]


def create_domain(
    conn: sqlite3.Connection,
    name: str,
    tags: dict[str, str],
    free_ports: Iterable[int],
    settings: Mapping[str, str] | None = None,
) -> DomainRecord:
    """A new domain on the first of ``free_ports`` no other domain holds; it never changes."""
    taken = {row[0] for row in conn.execute("SELECT port FROM domains")}
    port = next(p for p in free_ports if p not in taken)
    kept = dict(settings or {})
    conn.execute(
        "INSERT INTO domains (name, port, tags, settings) VALUES (?, ?, ?, ?)",
        (name, port, to_json(tags), to_json(kept)),
    )
    bump_generation(conn)
    return DomainRecord(name, port, tags, MAPPINGS_ONLY, kept)


def complete_domain_settings(
    conn: sqlite3.Connection, record: DomainRecord, settings: Mapping[str, str]
) -> DomainRecord:
    """Give the domain the settings it has none of yet (as a domain's stack gains a DNS
    record); a setting it has stays."""
    merged = {**settings, **record.settings}
    if merged == record.settings:
        return record
    conn.execute("UPDATE domains SET settings = ? WHERE name = ?", (to_json(merged), record.name))
    return replace(record, settings=merged)


def delete_domain(conn: sqlite3.Connection, name: str) -> None:
    """The domain goes, with its routing rules (the caller made sure it maps nothing)."""
    conn.execute("DELETE FROM routing_rules WHERE domain = ?", (name,))
    conn.execute("DELETE FROM mappings WHERE domain = ?", (name,))
    conn.execute("DELETE FROM domains WHERE name = ?", (name,))
    bump_generation(conn)


def domain_mappings(conn: sqlite3.Connection, domain: str) -> list[BasePathMapping]:
    rows = conn.execute(
        "SELECT domain, base_path, api_id, stage FROM mappings WHERE domain = ? ORDER BY base_path",
        (domain,),
    )
    return [BasePathMapping(r[0], r[1], r[2], r[3]) for r in rows]


def _require_domain(conn: sqlite3.Connection, domain: str) -> None:
    if get_domain(conn, domain) is None:
        raise not_found("domain name identifier")


def _require_stage(conn: sqlite3.Connection, api_id: str, stage: str) -> None:
    _require_api(conn, api_id)
    found = conn.execute(
        "SELECT 1 FROM stages WHERE api_id = ? AND name = ?", (api_id, stage)
    ).fetchone()
    if not found:
        raise not_found("stage identifier")


def get_mapping(conn: sqlite3.Connection, domain: str, base_path: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT api_id, stage FROM mappings WHERE domain = ? AND base_path = ?",
        (domain, normalize_base_path(base_path)),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def create_mapping(
    conn: sqlite3.Connection, domain: str, base_path: str, api_id: str, stage: str
) -> None:
    _require_domain(conn, domain)
    existing = {
        row[0] for row in conn.execute("SELECT base_path FROM mappings WHERE domain = ?", (domain,))
    }
    check_new_base_path(existing, base_path)
    _require_stage(conn, api_id, stage)
    conn.execute(
        "INSERT INTO mappings (domain, base_path, api_id, stage) VALUES (?, ?, ?, ?)",
        (domain, normalize_base_path(base_path), api_id, stage),
    )
    bump_generation(conn)


def update_mapping(
    conn: sqlite3.Connection, domain: str, base_path: str, api_id: str, stage: str
) -> None:
    """Re-point a mapping: one UPDATE, so a request sees the old target or the new one."""
    _require_domain(conn, domain)
    if get_mapping(conn, domain, base_path) is None:
        raise not_found("base path mapping identifier")
    _require_stage(conn, api_id, stage)
    conn.execute(
        "UPDATE mappings SET api_id = ?, stage = ? WHERE domain = ? AND base_path = ?",
        (api_id, stage, domain, normalize_base_path(base_path)),
    )
    bump_generation(conn)


def delete_mapping(conn: sqlite3.Connection, domain: str, base_path: str) -> None:
    _require_domain(conn, domain)
    if get_mapping(conn, domain, base_path) is None:
        raise not_found("base path mapping identifier")
    conn.execute(
        "DELETE FROM mappings WHERE domain = ? AND base_path = ?",
        (domain, normalize_base_path(base_path)),
    )
    bump_generation(conn)


def mappings_to_api(conn: sqlite3.Connection, api_id: str) -> list[BasePathMapping]:
    rows = conn.execute(
        "SELECT domain, base_path, api_id, stage FROM mappings WHERE api_id = ? "
        "ORDER BY domain, base_path",
        (api_id,),
    )
    return [BasePathMapping(r[0], r[1], r[2], r[3]) for r in rows]


def api_stages(conn: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
    """(api id, name, stage or None) of every RestApi, by name."""
    rows = conn.execute(
        "SELECT a.id, a.name, s.name FROM rest_apis a "
        "LEFT JOIN stages s ON s.api_id = a.id ORDER BY a.name, a.id, s.name"
    )
    return [(r[0], r[1], r[2]) for r in rows]


def domain_tags(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """Every domain's tags, by its name: the console tells a domain's app by them."""
    rows = conn.execute("SELECT name, tags FROM domains").fetchall()
    return {str(row[0]): dict(from_json(row[1]) or {}) for row in rows}


def domain_routes(conn: sqlite3.Connection) -> list[DomainRoute]:
    """Every domain with its mappings, and its routing rules when its routing mode lets
    them route (a domain that routes by mappings only keeps them, unused, as AWS does)."""
    mappings: dict[str, dict[str, tuple[str, str]]] = {}
    for row in conn.execute("SELECT domain, base_path, api_id, stage FROM mappings"):
        mappings.setdefault(row[0], {})[row[1]] = (row[2], row[3])
    rules: dict[str, list[RoutingRule]] = {}
    for rule_domain, rule in _all_rules(conn):
        rules.setdefault(rule_domain, []).append(rule)
    return [
        DomainRoute(
            row[0],
            row[1],
            mappings.get(row[0], {}),
            tuple(rules.get(row[0], ())) if row[2] != MAPPINGS_ONLY else (),
        )
        for row in conn.execute("SELECT name, port, routing_mode FROM domains ORDER BY name")
    ]


# Routing rules -----------------------------------------------------------------


def routing_mode(conn: sqlite3.Connection, domain: str) -> str:
    _require_domain(conn, domain)
    row = conn.execute("SELECT routing_mode FROM domains WHERE name = ?", (domain,)).fetchone()
    return str(row[0])


def set_routing_mode(conn: sqlite3.Connection, domain: str, mode: str) -> None:
    _require_domain(conn, domain)
    conn.execute("UPDATE domains SET routing_mode = ? WHERE name = ?", (mode, domain))
    bump_generation(conn)


def create_routing_rule(conn: sqlite3.Connection, domain: str, rule: RoutingRule) -> RoutingRule:
    """Add a rule, refused as AWS refuses it: a domain that routes by mappings only, a
    priority out of range or taken, a stage that does not exist."""
    check_rules_allowed(routing_mode(conn, domain))
    taken = {r.priority for r in routing_rules(conn, domain)}
    check_rule_priority(rule.priority, taken)
    _require_stage(conn, rule.api_id, rule.stage)
    created = dataclasses.replace(rule, id=random_id(6))
    conditions = {"headers": [list(h) for h in rule.headers], "base_paths": list(rule.base_paths)}
    action = {"api_id": rule.api_id, "stage": rule.stage, "strip_base_path": rule.strip_base_path}
    conn.execute(
        "INSERT INTO routing_rules (id, domain, priority, conditions, action) "
        "VALUES (?, ?, ?, ?, ?)",
        (created.id, domain, rule.priority, to_json(conditions), to_json(action)),
    )
    bump_generation(conn)
    return created


def delete_routing_rule(conn: sqlite3.Connection, domain: str, rule_id: str) -> None:
    _require_domain(conn, domain)
    gone = conn.execute(
        "DELETE FROM routing_rules WHERE domain = ? AND id = ?", (domain, rule_id)
    ).rowcount
    if not gone:
        raise not_found("routing rule identifier")
    bump_generation(conn)


def routing_rules(conn: sqlite3.Connection, domain: str) -> list[RoutingRule]:
    _require_domain(conn, domain)
    return [rule for found, rule in _all_rules(conn) if found == domain]


def rules_to_api(conn: sqlite3.Connection, api_id: str) -> list[tuple[str, RoutingRule]]:
    """The rules that send requests to the API: on domains whose routing mode lets rules
    route."""
    routing = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM domains WHERE routing_mode != ?", (MAPPINGS_ONLY,)
        )
    }
    return [
        (domain, rule)
        for domain, rule in _all_rules(conn)
        if rule.api_id == api_id and domain in routing
    ]


def _all_rules(conn: sqlite3.Connection) -> list[tuple[str, RoutingRule]]:
    rows = conn.execute(
        "SELECT domain, id, priority, conditions, action FROM routing_rules "
        "ORDER BY domain, priority"
    )
    found = []
    for domain, rule_id, priority, conditions_text, action_text in rows:
        conditions, action = from_json(conditions_text), from_json(action_text)
        rule = RoutingRule(
            priority=int(priority),
            api_id=str(action["api_id"]),
            stage=str(action["stage"]),
            headers=tuple((str(n), str(v)) for n, v in conditions.get("headers", [])),
            base_paths=tuple(str(b) for b in conditions.get("base_paths", [])),
            strip_base_path=bool(action.get("strip_base_path")),
            id=str(rule_id),
        )
        found.append((str(domain), rule))
    return found
