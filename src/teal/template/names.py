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
from functools import lru_cache
from typing import Any

REST_API_BASE = "RestApi"
FUNCTION_NAME_LIMIT = 64
_ROTATION = re.compile(r"^(?P<base>[A-Za-z]+?)(?P<number>[0-9]*)$")
_WORD = re.compile(r"[A-Za-z0-9]+")
_STEM_LIMIT = 48
# Ids are asked for many times per synthesis (a path is also a parent, a method
# holder, a page input); they are pure, so remember them.
_memo = lru_cache(maxsize=1 << 16)


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    """The one serialization used for hashing and for artifact keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stem(text: str) -> str:
    """Readable alphanumeric CamelCase of ``text``, capped in length.

    Reads only the words the cap keeps: a path may be 10,000 characters long
    (routes.URL_LENGTH_LIMIT), and each of its parents is named too.
    """
    words, size = [], 0
    for found in _WORD.finditer(text):
        word = found.group(0)
        words.append(word[:1].upper() + word[1:])
        size += len(word)
        if size >= _STEM_LIMIT:
            break
    return "".join(words)[:_STEM_LIMIT]


def generation(rest_api_logical_id: str) -> str:
    """The suffix every API-bound id carries: ``""`` for ``RestApi``, ``G1`` for ``RestApi1``.

    A replaced API gets new ids for all its resources and functions, so the
    old and the new API can live side by side in one template (see
    :mod:`teal.template.combine`) and never share a physical name.
    """
    found = _ROTATION.match(rest_api_logical_id)
    number = found.group("number") if found else ""
    return f"G{number}" if number else ""


@_memo
def resource_id(path: str, gen: str = "") -> str:
    """``/posts/{id}`` -> ``ResPostsId`` + hash of the exact path."""
    return f"Res{_stem(path)}{short_hash(path)}{gen}"


@_memo
def method_id(path: str, verb: str, gen: str = "") -> str:
    stem = "Root" if path == "/" else _stem(path)
    return f"Method{stem}{verb.capitalize()}{short_hash(path)}{gen}"


@_memo
def function_id(function: str, gen: str = "") -> str:
    """Logical id stem of an app function; names differing only in '-'/'_' stay apart."""
    return f"Fn{_stem(function)}{short_hash(function)}{gen}"


def page_id(number: int, gen: str = "") -> str:
    return f"ApiPage{number}{gen}"


def function_physical_name(environment: str, function: str, gen: str = "") -> str:
    """``<environment>-<function>[-g<n>]`` within Lambda's 64 characters, deterministic.

    When too long, the environment part is cut and followed by a hash of the
    whole name, so two environments sharing a long prefix never collide.
    """
    tail = f"{function}-{gen.lower()}" if gen else function
    name = f"{environment}-{tail}"
    if len(name) <= FUNCTION_NAME_LIMIT:
        return name
    digest = short_hash(name, 10)
    keep = FUNCTION_NAME_LIMIT - len(tail) - len(digest) - 2
    return f"{environment[: max(keep, 1)]}-{digest}-{tail}"[-FUNCTION_NAME_LIMIT:]


def next_rest_api_logical_id(current: str) -> str:
    """``RestApi`` -> ``RestApi1`` -> ``RestApi2`` ..."""
    found = _ROTATION.match(current)
    if found is None:
        return f"{current}1"
    number = int(found.group("number") or 0)
    return f"{found.group('base')}{number + 1}"
