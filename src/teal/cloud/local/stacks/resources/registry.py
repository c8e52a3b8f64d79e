"""Every resource type the local cloud supports, each with its provider.

Apart from the package's base types, so that the providers import those
types and this module imports the providers, with no import going back.

A type AWS has and the local cloud does not emulate gets the
:class:`~teal.cloud.local.stacks.resources.not_emulated.NotEmulated` provider when
asked for: the stack records it and nothing is created. Iterating lists the
emulated types only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from teal.cloud.local.stacks.resources import (
    ResourceProvider,
    apigateway,
    event_source_mappings,
    eventbridge,
    iam,
    lambda_,
    layers,
    log_groups,
    sqs,
    stack,
)
from teal.cloud.local.stacks.resources.not_emulated import not_emulated
from teal.rules.schemas import is_known_type


class Providers(Mapping[str, ResourceProvider]):
    """The emulated types' providers, and a recorder for any other type AWS has."""

    def __init__(self, emulated: list[ResourceProvider]) -> None:
        self._emulated = {provider.type_name: provider for provider in emulated}

    def __getitem__(self, type_name: str) -> ResourceProvider:
        found = self._emulated.get(type_name)
        if found is not None:
            return found
        if isinstance(type_name, str) and is_known_type(type_name):
            return not_emulated(type_name)
        raise KeyError(type_name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._emulated)

    def __len__(self) -> int:
        return len(self._emulated)


def providers() -> Providers:
    """Every supported type, by its CloudFormation name."""
    return Providers(
        [
            iam.Role(),
            log_groups.LogGroup(),
            lambda_.Function(),
            lambda_.Permission(),
            layers.LayerVersion(),
            lambda_.Version(),
            lambda_.Alias(),
            apigateway.RestApi(),
            apigateway.Resource(),
            apigateway.Method(),
            apigateway.Deployment(),
            apigateway.Stage(),
            apigateway.Authorizer(),
            apigateway.GatewayResponse(),
            apigateway.ApiKey(),
            apigateway.UsagePlan(),
            apigateway.UsagePlanKey(),
            stack.NestedStack(),
            eventbridge.Rule(),
            sqs.Queue(),
            event_source_mappings.EventSourceMapping(),
        ]
    )
