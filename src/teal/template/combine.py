"""Two APIs in one template, for a switch of a live domain with no gap.

When the API must be replaced while a custom domain serves it, the deployer
first applies the *union* of the deployed template and the new one: the new
API (with its own functions) is built beside the old, which keeps serving;
then the domain is re-pointed; then the new template alone is applied and
CloudFormation removes the old API at cleanup.

The union says which of its resources belong to the old (retiring) API, in
its metadata and in the ``RetiringRestApiId`` output, so a deploy that finds
such a stack (a replacement stopped between its steps) knows what still
serves the domain and continues where the replacement stopped.
"""

from __future__ import annotations

from typing import Any

from teal.rules.labels import RETIRING_API_OUTPUT
from teal.template.names import canonical_json
from teal.template.synth import METADATA_KEY, current_rest_api_logical_id
from teal.template.types import Template

RETIRING_KEY = "retiring"


class OverlapError(ValueError):
    """The old and new templates define one logical id differently: no safe union."""


def combine_for_switch(old: Template, new: Template) -> Template:
    """The new template plus every resource of the old one it does not define.

    A replaced API's resources all carry new logical ids (the generation
    suffix), so the union leaves the old API untouched. Shared resources must
    be identical, or the first update would already change what still serves.
    """
    old_resources: dict[str, Any] = old.get("Resources", {})
    new_resources: dict[str, Any] = new.get("Resources", {})
    clashing = sorted(
        key
        for key in old_resources.keys() & new_resources.keys()
        if old_resources[key] != new_resources[key]
    )
    if clashing:
        raise OverlapError(
            "the old and new templates both define, differently: " + ", ".join(clashing[:5])
        )
    old_api = current_rest_api_logical_id(old)
    combined = dict(new)
    combined["Resources"] = {**old_resources, **new_resources}
    combined["Metadata"] = _with_retiring(
        new.get("Metadata", {}), old_api, sorted(old_resources.keys() - new_resources.keys())
    )
    if old_api is not None:
        combined["Outputs"] = {
            **new.get("Outputs", {}),
            RETIRING_API_OUTPUT: {"Value": {"Ref": old_api}},
        }
    return combined


def _with_retiring(metadata: dict[str, Any], api: str | None, ids: list[str]) -> dict[str, Any]:
    ours = dict(metadata.get(METADATA_KEY, {}))
    ours[RETIRING_KEY] = {"rest_api_logical_id": api, "resources": ids}
    return {**metadata, METADATA_KEY: ours}


def serving_part(template: Template) -> Template:
    """What of a side-by-side template still serves the domain: the retiring API alone.

    A template that is not side by side is returned as it is.
    """
    ours = template.get("Metadata", {}).get(METADATA_KEY, {})
    retiring = ours.get(RETIRING_KEY) if isinstance(ours, dict) else None
    if not isinstance(retiring, dict):
        return template
    resources = template.get("Resources", {})
    kept = {key: resources[key] for key in retiring.get("resources", []) if key in resources}
    metadata = {k: v for k, v in ours.items() if k != RETIRING_KEY}
    metadata["rest_api_logical_id"] = retiring.get("rest_api_logical_id")
    outputs = {k: v for k, v in template.get("Outputs", {}).items() if k != RETIRING_API_OUTPUT}
    return {
        **template,
        "Resources": kept,
        "Metadata": {**template.get("Metadata", {}), METADATA_KEY: metadata},
        "Outputs": outputs,
    }


def template_bytes(template: Template) -> bytes:
    """The bytes uploaded for a (nested) template: the canonical JSON its key hashes."""
    return canonical_json(template).encode("utf-8")
