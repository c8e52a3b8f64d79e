"""A published version and an alias per function, and the alias as what invokes it.

Every function of the template gets an ``AWS::Lambda::Version`` and an
``AWS::Lambda::Alias`` named :data:`ALIAS_NAME` on it; API Gateway's
integrations and permissions, authorizers, schedules and queue consumers
invoke the alias's ARN (``Ref`` of an alias), never ``$LATEST``. An update
that changes a function's code or configuration therefore changes what runs
only when the alias moves, which is what a canary needs to split traffic
between two versions.

CloudFormation publishes a version when it creates an ``AWS::Lambda::Version``
resource and never on an update of the function alone, so the Version's
logical id (and its ``Description``, create-only) carries a hash of the
function's properties: a changed function gets a new Version resource (a new
version is published, the alias moves to it, and CloudFormation deletes the
replaced version at the cleanup of the update), an unchanged one keeps its id
and nothing is published. The other common technique, a Version resource
with a fixed id and a property changed by hand, would publish on every
deploy whether the function changed or not.

A canary (:func:`with_canary`) keeps the deployed Version resources of the
changed functions in the template, so the old versions stay while the alias
sends a share of the invocations to the new ones; promoting applies the
plain template (CloudFormation then deletes the old versions), rolling back
applies :func:`rolled_back` (the alias on the old version alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from teal.project.config import FunctionSettings, Target
from teal.template.names import canonical_json, function_id, short_hash
from teal.template.types import Template

# every function's alias, which everything that invokes the function names
ALIAS_NAME = "live"

VERSION_TYPE = "AWS::Lambda::Version"
ALIAS_TYPE = "AWS::Lambda::Alias"
FUNCTION_TYPE = "AWS::Lambda::Function"
VERSION_HASH_LENGTH = 12

Resource = dict[str, Any]


def alias_id(function: str, gen: str = "") -> str:
    return f"{function_id(function, gen)}Alias"


def version_id(fn_logical_id: str, function_properties: Mapping[str, Any]) -> str:
    """The Version's logical id: the function's, and a hash of all it is configured with
    (code key, handler, memory, variables...), so it changes exactly when they do."""
    return f"{fn_logical_id}Version{_hash(function_properties)}"


def _hash(function_properties: Mapping[str, Any]) -> str:
    return short_hash(canonical_json(function_properties), VERSION_HASH_LENGTH)


def add_versions(
    resources: dict[str, Resource], functions: Iterable[str], target: Target, gen: str
) -> None:
    """A Version and the alias for each of ``functions`` (their resources must be final),
    and every invoker of them pointed at the alias."""
    aliases: dict[str, str] = {}
    for function in functions:
        fn_id = function_id(function, gen)
        settings = target.functions.get(function, FunctionSettings())
        properties: dict[str, Any] = resources[fn_id]["Properties"]
        if settings.snap_start:
            properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        version = version_id(fn_id, properties)
        resources[version] = {
            "Type": VERSION_TYPE,
            "Properties": {
                "FunctionName": {"Ref": fn_id},
                "Description": f"teal {_hash(properties)}",
            },
        }
        resources[alias_id(function, gen)] = _alias(fn_id, version, settings)
        aliases[fn_id] = alias_id(function, gen)
    for logical_id, resource in resources.items():
        if resource.get("Type") not in (FUNCTION_TYPE, VERSION_TYPE, ALIAS_TYPE):
            resources[logical_id] = _through_aliases(resource, aliases)


def _alias(fn_id: str, version: str, settings: FunctionSettings) -> Resource:
    properties: dict[str, Any] = {
        "FunctionName": {"Ref": fn_id},
        "FunctionVersion": {"Fn::GetAtt": [version, "Version"]},
        "Name": ALIAS_NAME,
    }
    if settings.provisioned_concurrency:
        properties["ProvisionedConcurrencyConfig"] = {
            "ProvisionedConcurrentExecutions": settings.provisioned_concurrency
        }
    return {"Type": ALIAS_TYPE, "Properties": properties}


def _through_aliases(value: Any, aliases: Mapping[str, str]) -> Any:
    """``value`` with each ``Fn::GetAtt [function, Arn]`` of ``aliases`` as the alias's ARN."""
    if isinstance(value, dict):
        got = value.get("Fn::GetAtt")
        if (
            len(value) == 1
            and isinstance(got, list)
            and len(got) == 2
            and got[1] == "Arn"
            and got[0] in aliases
        ):
            return {"Ref": aliases[got[0]]}
        return {key: _through_aliases(item, aliases) for key, item in value.items()}
    if isinstance(value, list):
        return [_through_aliases(item, aliases) for item in value]
    return value


# ---------------------------------------------------------------- reading templates


@dataclass(frozen=True)
class FunctionVersions:
    """One function's version and alias resources in a template."""

    fn_id: str
    version_id: str
    alias_id: str


def function_versions(template: Template) -> dict[str, FunctionVersions]:
    """Each function's Version and alias (by the function's logical id), read from the
    aliases: the Version an alias points at in full."""
    found: dict[str, FunctionVersions] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != ALIAS_TYPE:
            continue
        properties = resource.get("Properties", {})
        fn = properties.get("FunctionName", {})
        version = properties.get("FunctionVersion", {})
        if not (isinstance(fn, dict) and isinstance(version, dict)):
            continue
        fn_id, got = fn.get("Ref"), version.get("Fn::GetAtt")
        if isinstance(fn_id, str) and isinstance(got, list) and got:
            found[fn_id] = FunctionVersions(fn_id, str(got[0]), logical_id)
    return found


def changed_functions(deployed: Template, new: Template) -> dict[str, tuple[str, str]]:
    """The functions whose version changes from ``deployed`` to ``new``: by the function's
    logical id, (the deployed Version's id, the new one's). A function new in ``new`` has
    no old version to share traffic with, and is not one of them."""
    before, after = function_versions(deployed), function_versions(new)
    return {
        fn_id: (before[fn_id].version_id, versions.version_id)
        for fn_id, versions in after.items()
        if fn_id in before
        and before[fn_id].version_id != versions.version_id
        and before[fn_id].version_id in deployed.get("Resources", {})
    }


def with_canary(deployed: Template, new: Template, percent: float) -> Template:
    """``new`` with each changed function's alias on its deployed version, sending
    ``percent`` of the invocations to the new one; the deployed Versions stay."""
    return _aliases_on_old(deployed, new, percent)


def rolled_back(deployed: Template, new: Template) -> Template:
    """``new`` with each changed function's alias back on its deployed version alone (the
    new versions stay published, serving nothing)."""
    return _aliases_on_old(deployed, new, None)


def _aliases_on_old(deployed: Template, new: Template, percent: float | None) -> Template:
    result: Template = json_copy(new)
    resources: dict[str, Any] = result["Resources"]
    old_resources: Mapping[str, Any] = deployed.get("Resources", {})
    for fn_id, (old, fresh) in changed_functions(deployed, new).items():
        resources[old] = json_copy(old_resources[old])
        alias = resources[function_versions(new)[fn_id].alias_id]["Properties"]
        alias["FunctionVersion"] = {"Fn::GetAtt": [old, "Version"]}
        if percent is not None:
            weight: dict[str, Any] = {
                "FunctionVersion": {"Fn::GetAtt": [fresh, "Version"]},
                "FunctionWeight": round(percent / 100, 4),
            }
            alias["RoutingConfig"] = {"AdditionalVersionWeights": [weight]}
    return result


def json_copy(value: Any) -> Any:
    return json.loads(canonical_json(value))
