"""What teal.toml and the app's triggers add to a function's resources.

On the function: ``layers``, ``reserved_concurrency`` and ``vpc`` of
``[functions.NAME]`` as Lambda's ``Layers``, ``ReservedConcurrentExecutions``
and ``VpcConfig``; the variables every function shares (the [resources]
template's outputs, the stack queues' URLs). On its role: what it is granted
and needs (:mod:`teal.template.permissions`). Beside it: its schedules and
queue consumers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from teal.project.config import FunctionSettings, Target
from teal.runtime.triggers import Triggers
from teal.template import permissions, queues, schedules
from teal.template.functions import role_id
from teal.template.names import function_id

Resource = dict[str, Any]


def extend_function(
    resources: dict[str, Resource],
    function: str,
    target: Target,
    triggers: Triggers,
    *,
    gen: str,
    shared_variables: Mapping[str, Any],
) -> None:
    """Add settings, variables, grants, schedules and consumers of one function."""
    properties: dict[str, Any] = resources[function_id(function, gen)]["Properties"]
    _apply_settings(properties, target.functions.get(function, FunctionSettings()))
    variables: dict[str, Any] = properties["Environment"]["Variables"]
    properties["Environment"]["Variables"] = dict(sorted({**shared_variables, **variables}.items()))
    consumers = triggers.consumers_of(function)
    permissions.grant(
        resources[role_id(function, gen)],
        function,
        target,
        queues.consumed_arns(consumers, target),
        _stack_resources(target),
    )
    resources.update(schedules.schedule_resources(function, triggers.schedules_of(function), gen))
    resources.update(queues.consumer_resources(function, consumers, target, gen))


def _apply_settings(properties: dict[str, Any], settings: FunctionSettings) -> None:
    if settings.layers:  # after the dependency layer, if there is one
        properties["Layers"] = [*properties.get("Layers", []), *settings.layers]
    if settings.reserved_concurrency is not None:
        properties["ReservedConcurrentExecutions"] = settings.reserved_concurrency
    if settings.vpc is not None:
        properties["VpcConfig"] = {
            "SubnetIds": list(settings.vpc.subnets),
            "SecurityGroupIds": list(settings.vpc.security_groups),
        }


def _stack_resources(target: Target) -> Collection[str]:
    extra = target.extra_resources
    return set(extra.resources) if extra is not None else set()
