"""Facts from the AWS resource provider schemas that cfn-lint ships.

Which property changes force a replacement is read from each type's
``createOnlyProperties``, never from a hand-kept list, so the analyzer and
the local stack engine agree with CloudFormation.

Importing cfn-lint takes a second or two, which every ``teal plan`` and
``teal deploy`` would pay; the schemas are plain JSON files inside the
package, so they are read directly (a provider index per region pointing at
content-named schema files), with cfn-lint's own loader as the fallback
should that layout change.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_REGION = "us-east-1"


@cache
def _schema_dir() -> Path | None:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    return folder if (folder / "providers" / f"{SCHEMA_REGION}.json").is_file() else None


@cache
def _provider_index() -> dict[str, str]:
    folder = _schema_dir()
    if folder is None:
        return {}
    index: dict[str, str] = json.loads((folder / "providers" / f"{SCHEMA_REGION}.json").read_text())
    return index


@cache
def resource_schema(resource_type: str) -> dict[str, Any]:
    """The provider schema of a resource type; KeyError when AWS has no such type."""
    folder = _schema_dir()
    name = _provider_index().get(resource_type)
    if folder is not None and name is not None:
        path = folder / "resources" / f"{name}.json"
        if path.is_file():
            schema: dict[str, Any] = json.loads(path.read_text())
            return schema
    return _schema_via_cfnlint(resource_type)


def _schema_via_cfnlint(resource_type: str) -> dict[str, Any]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        found = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type)
    except Exception as exc:  # cfn-lint raises its own ResourceNotFoundError
        raise KeyError(resource_type) from exc
    schema: dict[str, Any] = found.schema
    return schema


@cache
def create_only_properties(resource_type: str) -> frozenset[str]:
    """Top-level property names whose change makes CloudFormation replace the resource."""
    pointers: list[str] = resource_schema(resource_type).get("createOnlyProperties", [])
    return frozenset(p.split("/")[2] for p in pointers if p.startswith("/properties/"))


def is_known_type(resource_type: str) -> bool:
    try:
        resource_schema(resource_type)
    except KeyError:
        return False
    return True
