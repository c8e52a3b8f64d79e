"""Create-only properties come from the provider schemas cfn-lint ships."""

from __future__ import annotations

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from teal.rules.schemas import SCHEMA_REGION, create_only_properties, is_known_type

TYPES = [
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::CloudFormation::Stack",
    "AWS::Events::Rule",
    "AWS::SQS::Queue",
    "AWS::Lambda::EventSourceMapping",
]


@pytest.mark.parametrize("resource_type", TYPES)
def test_direct_read_matches_cfn_lints_loader(resource_type: str) -> None:
    loaded = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type).schema
    expected = {p.split("/")[2] for p in loaded.get("createOnlyProperties", [])}
    assert create_only_properties(resource_type) == expected


def test_facts_the_analysis_depends_on() -> None:
    assert create_only_properties("AWS::ApiGateway::Resource") == {
        "RestApiId",
        "ParentId",
        "PathPart",
    }
    assert create_only_properties("AWS::ApiGateway::RestApi") == frozenset()
    assert "FunctionName" in create_only_properties("AWS::Lambda::Function")


def test_facts_of_access_the_plan_relies_on() -> None:
    """A method's authorizer and API key change in place; an authorizer is replaced only
    with its API; the environment's API key keeps its name, so it is never replaced."""
    method = create_only_properties("AWS::ApiGateway::Method")
    assert not method & {"AuthorizationType", "AuthorizerId", "ApiKeyRequired"}
    assert create_only_properties("AWS::ApiGateway::Authorizer") == {"RestApiId"}
    assert "ResponseType" in create_only_properties("AWS::ApiGateway::GatewayResponse")
    assert "Name" in create_only_properties("AWS::ApiGateway::ApiKey")


def test_facts_of_schedules_and_queues_the_analysis_depends_on() -> None:
    """A new expression or batch size updates in place; a new queue name or source replaces."""
    assert "ScheduleExpression" not in create_only_properties("AWS::Events::Rule")
    assert create_only_properties("AWS::SQS::Queue") == {"FifoQueue", "QueueName"}
    mapping = create_only_properties("AWS::Lambda::EventSourceMapping")
    assert "EventSourceArn" in mapping and "BatchSize" not in mapping


def test_unknown_types() -> None:
    assert is_known_type("AWS::ApiGateway::Method")
    assert not is_known_type("AWS::Nope::Thing")
