"""What the local cloud says once in a deploy's output: where it is not AWS.

- IAM: roles are kept, their policies never enforced; a function may call
  what its role would not allow on AWS (say so when teal.toml grants
  policies, so nobody takes a local success for a permission check);
- layers given by ARN, reserved concurrency, VPCs, SnapStart and provisioned
  concurrency: accepted and ignored (teal's dependency layer is mirrored: its
  install of the dependencies);
- resource types the local cloud does not emulate: recorded, not created
  (:mod:`teal.cloud.local.stacks.resources.not_emulated`), named.

Each note is said once per command (a replacement applies several
templates), through the warnings the CLI prints.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from teal.cloud.local.stacks.resources.registry import Providers
from teal.template.types import Template

warnings_log = logging.getLogger("teal.warnings")
USER_POLICY = "teal-policies"  # the inline policy teal writes teal.toml's statements to
IGNORED = {
    "Layers": "layers",
    "ReservedConcurrentExecutions": "reserved concurrency",
    "VpcConfig": "VPC settings",
    "SnapStart": "SnapStart",
}
# on an alias: the local cloud starts workers on demand
IGNORED_ON_ALIASES = {"ProvisionedConcurrencyConfig": "provisioned concurrency"}


def _ignored(key: str, properties: Mapping[str, Any]) -> bool:
    """A setting the local cloud ignores: layers by ARN count, teal's dependency layer
    (a reference to the stack's own LayerVersion) does not, as the local cloud
    mirrors it with its own install of the dependencies."""
    if key != "Layers":
        return key in properties
    return any(isinstance(layer, str) for layer in properties.get("Layers", []))


def template_notes(template: Template, known: Providers) -> list[str]:
    """The notes a template calls for, in a stable order."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    notes: list[str] = []
    if any(_grants(body) for body in resources.values()):
        notes.append(
            "the local cloud does not enforce IAM: the policies of teal.toml are recorded on "
            "the functions' roles and apply on AWS only; locally a function may do more"
        )
    ignored = sorted(
        {
            words
            for body in resources.values()
            for key, words in _ignored_of(str(body.get("Type"))).items()
            if _ignored(key, body.get("Properties", {}))
        }
    )
    if ignored:
        notes.append(
            f"the local cloud ignores the functions' {', '.join(ignored)}: they apply on AWS only"
        )
    foreign = sorted({str(body.get("Type")) for body in resources.values()} - set(known))
    if foreign:
        notes.append(
            f"not emulated by the local cloud, recorded without being created: "
            f"{', '.join(foreign)}; local functions that use them reach AWS, if anything"
        )
    return notes


def _ignored_of(resource_type: str) -> Mapping[str, str]:
    if resource_type == "AWS::Lambda::Function":
        return IGNORED
    return IGNORED_ON_ALIASES if resource_type == "AWS::Lambda::Alias" else {}


def _grants(body: Mapping[str, Any]) -> bool:
    if body.get("Type") != "AWS::IAM::Role":
        return False
    properties = body.get("Properties", {})
    named = {p.get("PolicyName") for p in properties.get("Policies", []) if isinstance(p, dict)}
    # teal.toml's managed policies are ARNs; teal's own (a VPC's) is an Fn::Sub
    managed = [arn for arn in properties.get("ManagedPolicyArns", []) if isinstance(arn, str)]
    return USER_POLICY in named or bool(managed)


class Notes:
    """The notes said so far by one command; each is said once."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def say(self, template: Template, known: Providers) -> None:
        for note in template_notes(template, known):
            if note not in self._said:
                self._said.add(note)
                warnings_log.warning("%s", note)
