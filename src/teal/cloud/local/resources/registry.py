"""Every resource type the local cloud supports, each with its provider.

Apart from the package's base types, so that the providers import those
types and this module imports the providers, with no import going back.
"""

from __future__ import annotations

from teal.cloud.local.resources import ResourceProvider, apigateway, iam, lambda_, logs, stack


def providers() -> dict[str, ResourceProvider]:
    """Every supported type, by its CloudFormation name."""
    found: list[ResourceProvider] = [
        iam.Role(),
        logs.LogGroup(),
        lambda_.Function(),
        lambda_.Permission(),
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
    ]
    return {provider.type_name: provider for provider in found}
