"""`teal plan --cloud aws`: CloudFormation's change set beside teal's verdict."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY

from aws_fakes import (  # noqa: F401
    StubbedCloud,
    change_set_id,
    described_change_set,
    resource_change,
    stack,
    stack_id,
    stacks,
    stubbed,
)
from teal.cli.plan import print_change_set
from teal.cloud.aws.artifacts import bucket_name
from teal.plan.analysis import ResourceChange, ResourceChanges
from teal.plan.changeset import ChangeSetReport, ComparedRow, compare_change_set
from teal.template import Synthesized
from test_template_support import make_target

NAME = "blog-dev"
TARGET = make_target(cloud="aws")
PAGE_KEY = "templates/page1.json"
PAGE: dict[str, Any] = {"Resources": {"Res": {"Type": "AWS::ApiGateway::Resource"}}}
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "RestApi1": {"Type": "AWS::ApiGateway::RestApi"},
        "ApiPage1": {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": {
                    "Fn::Sub": f"https://${{ArtifactBucket}}.s3.${{AWS::Region}}.amazonaws.com/{PAGE_KEY}"
                }
            },
        },
    }
}
SYNTHESIZED = Synthesized(TEMPLATE, {PAGE_KEY: PAGE}, {"ApiPage1": PAGE}, "RestApi1")
TEAL_CHANGES = ResourceChanges(
    action="update",
    added=(ResourceChange("RestApi1", "AWS::ApiGateway::RestApi"),),
    replaced=(ResourceChange("ApiPage1/Res", "AWS::ApiGateway::Resource"),),
    removed=(ResourceChange("RestApi", "AWS::ApiGateway::RestApi"),),
)


def expect_page_upload(s: StubbedCloud) -> None:
    bucket = bucket_name(s.cloud.account_id, s.cloud.region)
    s.s3.add_response("head_bucket", {}, {"Bucket": bucket})
    s.s3.add_client_error("head_object", "404", http_status_code=404)
    s.s3.add_response("put_object", {}, {"Bucket": bucket, "Key": PAGE_KEY, "Body": ANY})


def expect_change_set(s: StubbedCloud, changes: list[dict[str, Any]]) -> None:
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    s.cfn.add_response(
        "create_change_set",
        {"Id": change_set_id(NAME), "StackId": stack_id(NAME)},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Capabilities": ANY,
            "Parameters": [
                {
                    "ParameterKey": "ArtifactBucket",
                    "ParameterValue": bucket_name(s.cloud.account_id, s.cloud.region),
                }
            ],
            "Tags": ANY,
            "TemplateBody": ANY,
        },
    )
    s.cfn.add_response("describe_change_set", described_change_set(NAME, "CREATE_COMPLETE"))
    s.cfn.add_response(
        "describe_change_set", described_change_set(NAME, "CREATE_COMPLETE", changes=changes)
    )
    s.cfn.add_response("delete_change_set", {}, {"ChangeSetName": change_set_id(NAME)})


def test_rows_put_cloudformations_replacement_beside_teals_verdict(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s = stubbed
    expect_page_upload(s)
    expect_change_set(
        s,
        [
            resource_change("Add", "RestApi1", "AWS::ApiGateway::RestApi"),
            resource_change("Modify", "ApiPage1", "AWS::CloudFormation::Stack", "False"),
            resource_change("Remove", "RestApi", "AWS::ApiGateway::RestApi"),
        ],
    )

    preview = compare_change_set(s.cloud, TARGET, SYNTHESIZED, TEAL_CHANGES, stack_exists=True)

    assert preview.uploaded == 1 and preview.note is None
    assert preview.to_json() == [
        {
            "action": "Add",
            "logical_id": "RestApi1",
            "type": "AWS::ApiGateway::RestApi",
            "replacement": None,
            "teal": "add",
        },
        {
            "action": "Modify",
            "logical_id": "ApiPage1",
            "type": "AWS::CloudFormation::Stack",
            "replacement": "False",
            "teal": "modify",
        },
        {
            "action": "Remove",
            "logical_id": "RestApi",
            "type": "AWS::ApiGateway::RestApi",
            "replacement": None,
            "teal": "remove",
        },
    ]
    s.done()


def test_a_stack_that_does_not_exist_has_no_change_set(stubbed: StubbedCloud) -> None:  # noqa: F811
    preview = compare_change_set(
        stubbed.cloud, TARGET, SYNTHESIZED, TEAL_CHANGES, stack_exists=False
    )
    assert preview.rows is None and preview.to_json() is None
    assert preview.note is not None and "will be created" in preview.note
    stubbed.done()


def test_a_refused_preview_is_a_note_not_a_failure(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    expect_page_upload(s)
    s.cfn.add_client_error(
        "describe_stacks", "AccessDenied", "not allowed: cloudformation:DescribeStacks"
    )
    preview = compare_change_set(s.cloud, TARGET, SYNTHESIZED, TEAL_CHANGES, stack_exists=True)
    assert preview.rows is None
    assert preview.note is not None and "AccessDenied" in preview.note
    s.done()


def test_the_table_shows_both_columns(capsys: pytest.CaptureFixture[str]) -> None:
    preview = ChangeSetReport(
        (ComparedRow("Modify", "ApiPage1", "AWS::CloudFormation::Stack", "True", "replace"),),
        uploaded=2,
    )
    print_change_set(preview)
    captured = capsys.readouterr()
    assert "Replacement" in captured.out and "teal" in captured.out
    line = next(line for line in captured.out.splitlines() if "ApiPage1" in line)
    assert line.split() == ["Modify", "ApiPage1", "AWS::CloudFormation::Stack", "True", "replace"]
    assert "uploaded 2 nested template(s)" in captured.err
