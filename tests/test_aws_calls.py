"""Reading deployed state costs a fixed number of AWS calls, whatever the route count."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.response import StreamingBody

from aws_fakes import (  # noqa: F401
    StubbedCloud,
    stack,
    stack_id,
    stacks,
    stubbed,
    template_body,
)
from teal.cloud.aws.artifacts import bucket_name
from teal.cloud.aws.nested import bundle_bytes, bundle_key

NAME = "blog-prod"
NESTED_ID = stack_id(f"{NAME}-Routes-ABC", 9)
PAGE_KEY = "templates/x.json"


def routes_template(count: int) -> dict[str, Any]:
    """A template shaped like teal's: a resource and a method per route, one nested stack."""
    resources: dict[str, Any] = {
        "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": NAME}},
        "Routes": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": f"https://b.s3.amazonaws.com/{PAGE_KEY}"},
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


def counted(s: StubbedCloud) -> list[str]:
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    # Registered first, so it sees each call before the Stubber answers it.
    for client in (s.clients.cloudformation, s.clients.s3):
        client.meta.events.register_first("before-call.*.*", count)
    return calls


def object_body(data: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ETag": '"e"'}


def expect_main_template(s: StubbedCloud, template: dict[str, Any]) -> None:
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    s.cfn.add_response("get_template", {"TemplateBody": template_body(template)})


def expect_bundle(s: StubbedCloud, template: dict[str, Any], body: bytes | None) -> None:
    bucket = bucket_name(s.cloud.account_id, s.cloud.region)
    s.s3.add_response("head_bucket", {}, {"Bucket": bucket})
    key = bundle_key(template)
    if body is None:
        s.s3.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    else:
        s.s3.add_response("get_object", object_body(body), {"Bucket": bucket, "Key": key})


@pytest.mark.parametrize("routes", [10, 1000])
def test_reading_a_stack_costs_the_same_calls_for_10_and_1000_routes(
    stubbed: StubbedCloud,  # noqa: F811
    routes: int,
) -> None:
    s, calls = stubbed, counted(stubbed)
    template = routes_template(routes)
    expect_main_template(s, template)
    expect_bundle(s, template, bundle_bytes({"Routes": routes_template(routes)}))

    deployed = s.cloud.describe_stack(NAME)

    assert deployed is not None
    assert len(deployed.template["Resources"]) == 2 + 2 * routes
    assert len(deployed.nested_templates["Routes"]["Resources"]) == 2 + 2 * routes
    assert calls == ["DescribeStacks", "GetTemplate", "HeadBucket", "GetObject"]
    s.done()


def test_a_stack_without_a_bundle_is_read_from_cloudformation_page_by_page(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s, calls = stubbed, counted(stubbed)
    template = routes_template(3)
    expect_main_template(s, template)
    expect_bundle(s, template, None)
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
        {"TemplateBody": template_body(routes_template(3))},
        {"StackName": NESTED_ID, "TemplateStage": "Original"},
    )

    deployed = s.cloud.describe_stack(NAME)

    assert deployed is not None and set(deployed.nested_templates) == {"Routes"}
    assert calls[-2:] == ["DescribeStackResource", "GetTemplate"]
    s.done()


def test_a_bundle_that_does_not_cover_every_page_is_not_trusted(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s = stubbed
    template = routes_template(2)
    expect_main_template(s, template)
    expect_bundle(s, template, json.dumps({"version": 1, "templates": {}}).encode())
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
    )
    s.cfn.add_response("get_template", {"TemplateBody": template_body(routes_template(2))})
    deployed = s.cloud.describe_stack(NAME)
    assert deployed is not None and set(deployed.nested_templates) == {"Routes"}
    s.done()


def test_a_template_without_nested_stacks_needs_no_bundle(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s, calls = stubbed, counted(stubbed)
    template = {"Resources": {"RestApi": {"Type": "AWS::ApiGateway::RestApi"}}}
    expect_main_template(s, template)
    deployed = s.cloud.describe_stack(NAME)
    assert deployed is not None and deployed.nested_templates == {}
    assert calls == ["DescribeStacks", "GetTemplate"]
    s.done()


def test_a_template_read_back_is_made_of_plain_dicts_in_teals_key_order(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    """botocore decodes the body into OrderedDicts; the analysis wants what teal wrote."""
    s = stubbed
    template = {
        "Resources": {
            "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": NAME}},
            "Page": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"Parameters": {"Z": {"Ref": "RestApi"}, "A": {"Ref": "RestApi"}}},
            },
        }
    }
    expect_main_template(s, template)
    s.cfn.add_response(
        "describe_stack_resource",
        {
            "StackResourceDetail": {
                "LogicalResourceId": "Page",
                "PhysicalResourceId": NESTED_ID,
                "ResourceType": "AWS::CloudFormation::Stack",
                "LastUpdatedTimestamp": "2026-11-26T09:00:00Z",
                "ResourceStatus": "UPDATE_COMPLETE",
            }
        },
    )
    s.cfn.add_response("get_template", {"TemplateBody": template_body({"Resources": {}})})

    deployed = s.cloud.describe_stack(NAME)

    assert deployed is not None and deployed.template == template
    parameters = deployed.template["Resources"]["Page"]["Properties"]["Parameters"]
    assert type(parameters) is dict and type(parameters["Z"]) is dict
    assert list(parameters) == ["Z", "A"]
    s.done()
