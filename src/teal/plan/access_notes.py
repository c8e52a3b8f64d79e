"""Changes to CORS, authorizers and API keys, in the words of the app that made them.

The change analysis lists resources (``AuthorizerJwt3f2a``, ``MethodPostsGet...``);
a plan also says what they mean for callers: a route that now needs a token
or a key, an authorizer renamed (made anew, the methods moved to it in place,
the old one deleted), a preflight answering another origin. Pure: it reads the
flattened templates and the resource changes the analysis found, and looks
only at the changed resources, so a large app plans as fast as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from teal.template.reading import FlatResource

AUTHORIZER = "AWS::ApiGateway::Authorizer"
METHOD = "AWS::ApiGateway::Method"
RESOURCE = "AWS::ApiGateway::Resource"
GATEWAY_RESPONSE = "AWS::ApiGateway::GatewayResponse"
API_KEY = "AWS::ApiGateway::ApiKey"
ACCESS_PROPERTIES = ("AuthorizationType", "AuthorizerId", "ApiKeyRequired")
_KINDS = {
    "TOKEN": "Lambda TOKEN authorizer",
    "REQUEST": "Lambda REQUEST authorizer",
    "COGNITO_USER_POOLS": "Cognito authorizer",
}
_SETTINGS = {
    "AuthorizerResultTtlInSeconds": "cache ttl",
    "IdentitySource": "identity source",
    "IdentityValidationExpression": "token pattern",
    "ProviderARNs": "user pools",
    "Type": "type",
}

Flat = Mapping[str, FlatResource]


def access_notes(
    before: Flat,
    after: Flat,
    added: Iterable[str],
    modified: Iterable[str],
    removed: Iterable[str],
) -> list[str]:
    """Sentences for the changed resources (by identity) that concern access."""
    added, modified, removed = list(added), list(modified), list(removed)
    notes = _authorizer_notes(before, after, added, modified, removed)
    notes += _method_notes(before, after, added, modified, removed)
    notes += _gateway_response_notes(before, after, added, modified, removed)
    notes += _api_key_notes(before, after, added, removed)
    return notes


# ---------------------------------------------------------------- authorizers


def _authorizer_notes(
    before: Flat, after: Flat, added: list[str], modified: list[str], removed: list[str]
) -> list[str]:
    new = [after[i] for i in added if after[i].type == AUTHORIZER]
    gone = [before[i] for i in removed if before[i].type == AUTHORIZER]
    notes: list[str] = []
    for old in gone:
        twin = next((n for n in new if _same_source(old, n)), None)
        if twin is None:
            notes.append(f"authorizer {_name(old)!r} is removed")
            continue
        new.remove(twin)
        notes.append(
            f"authorizer {_name(old)!r} is renamed {_name(twin)!r}: API Gateway makes "
            f"{_name(twin)!r}, its methods move to it in place, then {_name(old)!r} is deleted "
            "(cached answers start afresh)"
        )
    notes += [
        f"{_KINDS.get(str(n.raw.get('Type')), 'authorizer')} {_name(n)!r} is added" for n in new
    ]
    for ident in modified:
        if after[ident].type == AUTHORIZER and ident in before:
            changed = _changed_settings(before[ident], after[ident])
            if changed:
                notes.append(f"authorizer {_name(after[ident])!r} changes in place: {changed}")
    return notes


def _name(resource: FlatResource) -> str:
    return str(resource.raw.get("Name") or resource.logical_id)


def _same_source(old: FlatResource, new: FlatResource) -> bool:
    """The same kind of authorizer, checking with the same function or user pools."""
    keys = ("Type", "AuthorizerUri", "ProviderARNs")
    return all(old.raw.get(k) == new.raw.get(k) for k in keys) and old.refs.get(
        "AuthorizerUri"
    ) == new.refs.get("AuthorizerUri")


def _changed_settings(old: FlatResource, new: FlatResource) -> str:
    changes = [
        f"{words} {_shown(old.raw.get(key))} -> {_shown(new.raw.get(key))}"
        for key, words in _SETTINGS.items()
        if old.raw.get(key) != new.raw.get(key)
    ]
    return ", ".join(changes)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- methods


def _method_notes(
    before: Flat, after: Flat, added: list[str], modified: list[str], removed: list[str]
) -> list[str]:
    notes: list[str] = []
    for ident in modified:
        new, old = after[ident], before.get(ident)
        if new.type != METHOD or old is None:
            continue
        if _is_preflight(new) or _is_preflight(old):
            notes += _preflight_change(after, old, new)
        elif any(old.raw.get(k) != new.raw.get(k) for k in ACCESS_PROPERTIES):
            notes.append(
                f"{_method_label(after, new)}: {_access(before, old)} -> {_access(after, new)} "
                "(changed in place)"
            )
    for ident in added:
        if after[ident].type == METHOD and _is_preflight(after[ident]):
            origin = _preflight_origin(after[ident])
            notes.append(
                f"{_path(after, after[ident])}: API Gateway answers CORS preflights "
                f"(origin {origin})"
            )
    for ident in removed:
        if before[ident].type == METHOD and _is_preflight(before[ident]):
            notes.append(f"{_path(before, before[ident])}: no more CORS preflight answer")
    return notes


def _is_preflight(method: FlatResource) -> bool:
    integration = method.raw.get("Integration")
    return isinstance(integration, dict) and integration.get("Type") == "MOCK"


def _preflight_origin(method: FlatResource) -> str:
    integration = method.raw.get("Integration") or {}
    answers = integration.get("IntegrationResponses") or [{}]
    parameters = answers[0].get("ResponseParameters") or {}
    value = str(parameters.get("method.response.header.Access-Control-Allow-Origin", "''"))
    return value.strip("'") or "none"


def _preflight_change(flat: Flat, old: FlatResource, new: FlatResource) -> list[str]:
    path = _path(flat, new)
    if not _is_preflight(new):
        return [f"{path}: OPTIONS is the app's own now, no more a CORS preflight answer"]
    if not _is_preflight(old):
        return [f"{path}: OPTIONS becomes API Gateway's CORS preflight answer"]
    return [
        f"{path}: the CORS preflight answer changes (origin {_preflight_origin(old)} -> "
        f"{_preflight_origin(new)})"
    ]


def _access(flat: Flat, method: FlatResource) -> str:
    """``authorizer jwt + API key``, ``open``..."""
    kind = str(method.raw.get("AuthorizationType") or "NONE")
    parts = []
    if kind == "AWS_IAM":
        parts.append("IAM (SigV4)")
    elif kind != "NONE":
        ref = method.ref("AuthorizerId")
        found = flat.get(ref.ident) if ref is not None else None
        parts.append(f"authorizer {_name(found)!r}" if found is not None else "authorizer")
    if method.raw.get("ApiKeyRequired") is True:
        parts.append("API key")
    return " + ".join(parts) if parts else "open"


def _method_label(flat: Flat, method: FlatResource) -> str:
    return f"{method.raw.get('HttpMethod')} {_path(flat, method)}"


def _path(flat: Flat, method: FlatResource) -> str:
    """The path of a method's resource, walking the parents up to the root."""
    parts: list[str] = []
    ref = method.ref("ResourceId")
    seen: set[str] = set()
    while ref is not None and ref.attribute is None and ref.ident in flat:
        if ref.ident in seen:
            break
        seen.add(ref.ident)
        resource = flat[ref.ident]
        if resource.type != RESOURCE:
            break
        parts.append(str(resource.raw.get("PathPart")))
        ref = resource.ref("ParentId")
    return "/" + "/".join(reversed(parts))


# ---------------------------------------------------------------- API-wide


def _gateway_response_notes(
    before: Flat, after: Flat, added: list[str], modified: list[str], removed: list[str]
) -> list[str]:
    def kinds(idents: list[str], flat: Flat) -> list[str]:
        return sorted(
            str(flat[i].raw.get("ResponseType")) for i in idents if flat[i].type == GATEWAY_RESPONSE
        )

    notes = []
    if found := kinds(added, after):
        notes.append(f"API Gateway's own errors ({', '.join(found)}) carry CORS headers")
    if found := kinds([i for i in modified if i in after], after):
        notes.append(f"the CORS headers of API Gateway's own errors ({', '.join(found)}) change")
    if found := kinds(removed, before):
        notes.append(f"API Gateway's own errors ({', '.join(found)}) carry no more CORS headers")
    return notes


def _api_key_notes(before: Flat, after: Flat, added: list[str], removed: list[str]) -> list[str]:
    notes = []
    if any(after[i].type == API_KEY for i in added):
        notes.append(
            "the environment gets an API key and a usage plan; `teal status --json` tells "
            "where its value is"
        )
    if any(before[i].type == API_KEY for i in removed):
        notes.append("the environment's API key is deleted: callers' keys stop working")
    return notes
