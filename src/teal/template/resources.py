"""``[resources] template``: the user's CloudFormation, merged into the environment's stack.

Its resources join teal's in the main template, under their own logical ids
(none may be one of teal's), with no API generation: a replacement of the
API keeps them, and their data. Its outputs become outputs of the stack, and
variables of every function under the same names (``Outputs: {TABLE: {Value:
!Ref Posts}}`` gives each function ``TABLE``), so code finds what the stack
made without knowing its generated names.

The analysis treats them as it treats teal's own: a change of a create-only
property replaces the resource (``teal plan`` says so, and that a replaced
table or bucket starts empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teal.project.config import LAMBDA_RESERVED_VARIABLES, TEAL_VARIABLES, VARIABLE_NAME, Target
from teal.project.resources_file import ExtraResources
from teal.runtime.errors import ConfigError

Resource = dict[str, Any]


def merge_resources(extra: ExtraResources, resources: dict[str, Resource]) -> None:
    """Add the user's resources to teal's; a logical id teal uses already is refused, and
    so is one of the ids a function's published versions take (``<function id>Version``
    and a hash that changes with the function: the next deploy could take it)."""
    version_prefixes = tuple(
        f"{logical_id}Version"
        for logical_id, body in resources.items()
        if body.get("Type") == "AWS::Lambda::Function"
    )
    for logical_id, body in extra.resources.items():
        if logical_id in resources or logical_id.startswith(version_prefixes):
            raise ConfigError(
                f"resource {logical_id} has a logical id teal uses for its own resources",
                where=extra.where(logical_id),
                hint="rename it in your template",
            )
        resources[logical_id] = body


def merge_outputs(extra: ExtraResources, outputs: dict[str, Any]) -> None:
    for name, body in extra.outputs.items():
        if name in outputs:
            raise ConfigError(
                f"output {name} has a name teal uses for its own outputs",
                where=extra.where(name),
                hint="rename it in your template",
            )
        outputs[name] = {"Value": body["Value"]}


def output_variables(target: Target) -> Mapping[str, Any]:
    """The template's outputs as function variables: name -> the output's value."""
    extra = target.extra_resources
    if extra is None:
        return {}
    variables: dict[str, Any] = {}
    for name, body in extra.outputs.items():
        _check_variable_name(extra, name, target)
        variables[name] = body["Value"]
    return variables


def _check_variable_name(extra: ExtraResources, name: str, target: Target) -> None:
    problem = None
    if not VARIABLE_NAME.match(name):
        problem = "Lambda takes variable names of at least two characters"
    elif name in LAMBDA_RESERVED_VARIABLES or name in TEAL_VARIABLES:
        problem = "Lambda or teal sets a variable of that name on every function"
    elif name in target.variables or any(
        name in settings.variables for settings in target.functions.values()
    ):
        problem = "teal.toml sets a variable of that name too"
    if problem is not None:
        raise ConfigError(
            f"output {name} becomes a variable of every function, and {problem}",
            where=extra.where(name),
            hint="rename the output",
        )
