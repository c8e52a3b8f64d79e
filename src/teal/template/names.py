"""Logical ids and physical names, derived from content so that they are stable.

A logical id is what CloudFormation tracks a resource by: the same route must
give the same id on every deploy (so a redeploy is a no-op), and two different
paths must never share one (``/Posts`` and ``/posts`` are different resources),
hence a short hash of the exact text after a readable stem.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

REST_API_BASE = "RestApi"
FUNCTION_NAME_LIMIT = 64
_ROTATION = re.compile(r"^(?P<base>[A-Za-z]+?)(?P<number>[0-9]*)$")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_STEM_LIMIT = 48


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    """The one serialization used for hashing and for artifact keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stem(text: str) -> str:
    """Readable alphanumeric CamelCase of ``text``, capped in length."""
    words = [w for w in _NOT_ALNUM.split(text) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)[:_STEM_LIMIT]


def resource_id(path: str) -> str:
    """``/posts/{id}`` -> ``ResPostsId`` + hash of the exact path."""
    return f"Res{_stem(path)}{short_hash(path)}"


def method_id(path: str, verb: str) -> str:
    stem = "Root" if path == "/" else _stem(path)
    return f"Method{stem}{verb.capitalize()}{short_hash(path)}"


def function_id(function: str) -> str:
    """Logical id stem of an app function; names differing only in '-'/'_' stay apart."""
    return f"Fn{_stem(function)}{short_hash(function)}"


def page_id(number: int) -> str:
    return f"ApiPage{number}"


def function_physical_name(environment: str, function: str) -> str:
    """``<environment>-<function>`` within Lambda's 64 characters, deterministic.

    When too long, the environment part is cut and followed by a hash of the
    whole name, so two environments sharing a long prefix never collide.
    """
    name = f"{environment}-{function}"
    if len(name) <= FUNCTION_NAME_LIMIT:
        return name
    digest = short_hash(name, 10)
    keep = FUNCTION_NAME_LIMIT - len(function) - len(digest) - 2
    head = environment[: max(keep, 0)]
    if keep <= 0:
        return f"{function[: FUNCTION_NAME_LIMIT - len(digest) - 1]}-{digest}"
    return f"{head}-{digest}-{function}"


def next_rest_api_logical_id(current: str) -> str:
    """``RestApi`` -> ``RestApi1`` -> ``RestApi2`` ..."""
    found = _ROTATION.match(current)
    if found is None:
        return f"{current}1"
    number = int(found.group("number") or 0)
    return f"{found.group('base')}{number + 1}"
