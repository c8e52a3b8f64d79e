"""Facts from the AWS resource provider schemas that cfn-lint ships.

Which property changes force a replacement is read from each type's
``createOnlyProperties``, never from a hand-kept list, so the analyzer and
the local stack engine agree with CloudFormation.
"""

from __future__ import annotations

from functools import cache

SCHEMA_REGION = "us-east-1"


@cache
def create_only_properties(resource_type: str) -> frozenset[str]:
    """Top-level property names whose change makes CloudFormation replace the resource."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type)
    pointers: list[str] = schema.schema.get("createOnlyProperties", [])
    return frozenset(p.split("/")[2] for p in pointers if p.startswith("/properties/"))


def is_known_type(resource_type: str) -> bool:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type)
    except Exception:
        return False
    return True
