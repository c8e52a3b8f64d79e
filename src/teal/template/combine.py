"""Two APIs in one template, for a switch of a live domain with no gap.

When the API must be replaced while a custom domain serves it, the deployer
first applies the *union* of the deployed template and the new one: the new
API (with its own functions) is built beside the old, which keeps serving;
then the domain is re-pointed; then the new template alone is applied and
CloudFormation removes the old API at cleanup.
"""

from __future__ import annotations

from typing import Any

from teal.template.names import canonical_json

Template = dict[str, Any]


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
    combined = dict(new)
    combined["Resources"] = {**old_resources, **new_resources}
    return combined


def template_bytes(template: Template) -> bytes:
    """The bytes uploaded for a (nested) template: the canonical JSON its key hashes."""
    return canonical_json(template).encode("utf-8")
