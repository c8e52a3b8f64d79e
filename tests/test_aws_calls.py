"""Reading deployed state costs a fixed number of AWS calls, whatever the route count."""

from __future__ import annotations

from typing import Any

import pytest

from aws_fakes import StubbedCloud, stack, stack_id, stacks, stubbed, template_body  # noqa: F401

NAME = "blog-prod"
NESTED_ID = stack_id(f"{NAME}-Routes-ABC", 9)


def routes_template(count: int) -> dict[str, Any]:
    """A template shaped like teal's: a resource and a method per route, one nested stack."""
    resources: dict[str, Any] = {
        "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": NAME}},
        "Routes": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": "https://b.s3.amazonaws.com/templates/x.json"},
        },
    }
    for i in range(count):
        resources[f"ApiResourceR{i}"] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "RestApi"},
                "ParentId": {"Fn::GetAtt": ["RestApi", "RootResourceId"]},
                "PathPart": f"r{i}",
            },
        }
        resources[f"ApiMethodR{i}Get"] = {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "RestApi"},
                "ResourceId": {"Ref": f"ApiResourceR{i}"},
                "HttpMethod": "GET",
                "AuthorizationType": "NONE",
            },
        }
    return {"Resources": resources}


def count_reading_calls(s: StubbedCloud, routes: int) -> list[str]:
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    # Registered first, so it sees each call before the Stubber answers it.
    s.clients.cloudformation.meta.events.register_first("before-call.*.*", count)
    template = routes_template(routes)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    s.cfn.add_response("get_template", {"TemplateBody": template_body(template)})
    s.cfn.add_response(
        "describe_stack_resource",
        {
            "StackResourceDetail": {
                "LogicalResourceId": "Routes",
                "PhysicalResourceId": NESTED_ID,
                "ResourceType": "AWS::CloudFormation::Stack",
                "LastUpdatedTimestamp": "2026-11-26T09:00:00Z",
                "ResourceStatus": "UPDATE_COMPLETE",
            }
        },
        {"StackName": stack_id(NAME), "LogicalResourceId": "Routes"},
    )
    s.cfn.add_response(
        "get_template",
        {"TemplateBody": template_body(routes_template(routes))},
        {"StackName": NESTED_ID, "TemplateStage": "Original"},
    )
    deployed = s.cloud.describe_stack(NAME)
    assert deployed is not None
    assert len(deployed.template["Resources"]) == 2 + 2 * routes
    assert set(deployed.nested_templates) == {"Routes"}
    s.done()
    return calls


@pytest.mark.parametrize("routes", [10, 1000])
def test_reading_a_stack_costs_the_same_calls_for_10_and_1000_routes(
    stubbed: StubbedCloud,  # noqa: F811
    routes: int,
) -> None:
    assert count_reading_calls(stubbed, routes) == [
        "DescribeStacks",
        "GetTemplate",
        "DescribeStackResource",
        "GetTemplate",
    ]
