"""Stack orchestration on CloudFormation, driven through botocore's Stubber.

moto's CloudFormation does not roll back nor model API Gateway faithfully, so
these tests script CloudFormation's answers, shaped like real ones, and check
what teal asks and how it reads the answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY

from aws_fakes import (
    EventLog,
    StubbedCloud,
    change_set_id,
    described_change_set,
    missing_stack,
    resource_change,
    stack,
    stack_id,
    stacks,
    stubbed,  # noqa: F401
    template_body,
)
from teal.cloud.base import NoUpdates, StackEvent, StackFailed, StackRequest
from teal.runtime.errors import OperationError

NAME = "blog-dev"
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": NAME}},
    },
    "Outputs": {"ApiId": {"Value": {"Ref": "RestApi"}}},
}
REQUEST = StackRequest(NAME, TEMPLATE, {"ArtifactBucket": "b"}, {"teal:app": "blog"})
SIBLING_REASON = (
    "A sibling ({id}) of this resource already has a variable path part -- only one is "
    "allowed (Service: ApiGateway, Status Code: 400, Error Code: BadRequestException)"
)
EMPTY_REASON = (
    "The submitted information didn't contain changes. Submit different information to "
    "create a change set."
)


def expect_change_set(s: StubbedCloud, kind: str, *, n: int = 1, reason: str | None = None) -> None:
    """create_change_set, one pending poll, then ready (or FAILED with ``reason``)."""
    s.cfn.add_response(
        "create_change_set",
        {"Id": change_set_id(NAME), "StackId": stack_id(NAME, n)},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": kind,
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Parameters": [{"ParameterKey": "ArtifactBucket", "ParameterValue": "b"}],
            "Tags": [{"Key": "teal:app", "Value": "blog"}],
            "TemplateBody": ANY,
        },
    )
    s.cfn.add_response("describe_change_set", described_change_set(NAME, "CREATE_PENDING"))
    final = "FAILED" if reason else "CREATE_COMPLETE"
    s.cfn.add_response("describe_change_set", described_change_set(NAME, final, reason))


def expect_events(s: StubbedCloud, log: EventLog) -> None:
    s.cfn.add_response("describe_stack_events", log.page())


class Recorder:
    def __init__(self) -> None:
        self.events: list[StackEvent] = []

    def __call__(self, event: StackEvent) -> None:
        self.events.append(event)

    def statuses(self) -> list[tuple[str, str]]:
        return [(e.logical_id, e.status) for e in self.events]


def test_create_streams_only_this_operations_events_once(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log, seen = stubbed, EventLog(NAME), Recorder()
    missing_stack(s.cfn, NAME)
    expect_change_set(s, "CREATE")
    log.stack_event("REVIEW_IN_PROGRESS", "User Initiated")
    expect_events(s, log)  # the mark: older events are not this operation's
    s.cfn.add_response("execute_change_set", {}, {"ChangeSetName": change_set_id(NAME)})
    log.stack_event("CREATE_IN_PROGRESS", "User Initiated")
    log.add("RestApi", "AWS::ApiGateway::RestApi", "CREATE_IN_PROGRESS")
    expect_events(s, log)
    log.add("RestApi", "AWS::ApiGateway::RestApi", "CREATE_COMPLETE", physical_id="abc123")
    log.stack_event("CREATE_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response(
        "describe_stacks", stacks(stack(NAME, "CREATE_COMPLETE", outputs={"ApiId": "abc123"}))
    )

    result = s.cloud.apply_stack(REQUEST, seen)

    assert result.status == "CREATE_COMPLETE"
    assert result.outputs == {"ApiId": "abc123"}
    assert seen.statuses() == [
        (NAME, "CREATE_IN_PROGRESS"),
        ("RestApi", "CREATE_IN_PROGRESS"),
        ("RestApi", "CREATE_COMPLETE"),
        (NAME, "CREATE_COMPLETE"),
    ]
    assert result.events == tuple(seen.events)
    s.done()


def test_update_that_rolls_back_raises_with_the_failing_resource(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s, log = stubbed, EventLog(NAME)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE")
    log.stack_event("UPDATE_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response("execute_change_set", {})
    log.stack_event("UPDATE_IN_PROGRESS", "User Initiated")
    log.add("ApiResourcePostsPostId", "AWS::ApiGateway::Resource", "CREATE_IN_PROGRESS")
    log.add("ApiResourcePostsPostId", "AWS::ApiGateway::Resource", "CREATE_FAILED", SIBLING_REASON)
    log.stack_event(
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [ApiResourcePostsPostId].",
    )
    log.stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    expect_events(s, log)
    log.stack_event("UPDATE_ROLLBACK_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_ROLLBACK_COMPLETE")))

    with pytest.raises(StackFailed) as caught:
        s.cloud.apply_stack(REQUEST, Recorder())

    error = caught.value
    assert error.status == "UPDATE_ROLLBACK_COMPLETE"
    assert [(f.logical_id, f.resource_type) for f in error.failures] == [
        ("ApiResourcePostsPostId", "AWS::ApiGateway::Resource")
    ]
    assert error.failures[0].reason == SIBLING_REASON
    assert "only one is allowed" in error.what
    s.done()


@pytest.mark.parametrize("reason", [EMPTY_REASON, "No updates are to be performed."])
def test_an_empty_change_set_is_no_updates_and_is_cleaned_up(
    stubbed: StubbedCloud,  # noqa: F811
    reason: str,
) -> None:
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE", reason=reason)
    s.cfn.add_response("delete_change_set", {}, {"ChangeSetName": change_set_id(NAME)})

    with pytest.raises(NoUpdates, match=r"No updates are to be performed\."):
        s.cloud.apply_stack(REQUEST, Recorder())
    s.done()


def test_a_change_set_failing_for_another_reason_says_why(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    reason = "Template format error: Unresolved resource dependencies [Nope] in the Resources block"
    expect_change_set(s, "UPDATE", reason=reason)
    s.cfn.add_response("delete_change_set", {})

    with pytest.raises(OperationError, match="Unresolved resource dependencies") as caught:
        s.cloud.apply_stack(REQUEST, Recorder())
    assert not isinstance(caught.value, NoUpdates)


def test_throttling_is_retried_with_backoff(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log = stubbed, EventLog(NAME)
    s.cfn.add_client_error("describe_stacks", "Throttling", "Rate exceeded", http_status_code=400)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE")
    expect_events(s, log)
    s.cfn.add_response("execute_change_set", {})
    for _ in range(3):
        s.cfn.add_client_error(
            "describe_stack_events", "Throttling", "Rate exceeded", http_status_code=400
        )
    log.stack_event("UPDATE_IN_PROGRESS")
    log.stack_event("UPDATE_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))

    result = s.cloud.apply_stack(REQUEST, Recorder())

    assert result.status == "UPDATE_COMPLETE"
    throttle_waits = [d for d in s.sleeps if d >= 0.5]
    assert throttle_waits == [0.5, 0.5, 1.0, 2.0]  # exponential, per throttled call
    s.done()


def test_a_stack_left_in_rollback_complete_is_deleted_before_create(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    s, old, seen = stubbed, EventLog(NAME, n=1), Recorder()
    s.cfn.add_response(
        "describe_stacks",
        stacks(stack(NAME, "ROLLBACK_COMPLETE", reason="The following resource(s) failed")),
    )
    old.stack_event("ROLLBACK_COMPLETE")
    expect_events(s, old)
    s.cfn.add_response("delete_stack", {}, {"StackName": stack_id(NAME, 1)})
    old.stack_event("DELETE_IN_PROGRESS", "User Initiated")
    old.stack_event("DELETE_COMPLETE")
    expect_events(s, old)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "DELETE_COMPLETE", n=1)))

    new = EventLog(NAME, n=2)
    expect_change_set(s, "CREATE", n=2)
    new.stack_event("REVIEW_IN_PROGRESS")
    expect_events(s, new)
    s.cfn.add_response("execute_change_set", {})
    new.stack_event("CREATE_IN_PROGRESS")
    new.stack_event("CREATE_COMPLETE")
    expect_events(s, new)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "CREATE_COMPLETE", n=2)))

    result = s.cloud.apply_stack(REQUEST, seen)

    assert result.status == "CREATE_COMPLETE"
    notice = seen.events[0]
    assert notice.status == "ROLLBACK_COMPLETE"
    assert notice.reason and "deletes it before creating it again" in notice.reason
    assert seen.statuses()[1:] == [
        (NAME, "DELETE_IN_PROGRESS"),
        (NAME, "DELETE_COMPLETE"),
        (NAME, "CREATE_IN_PROGRESS"),
        (NAME, "CREATE_COMPLETE"),
    ]
    s.done()


def test_a_busy_stack_is_refused(stubbed: StubbedCloud) -> None:  # noqa: F811
    stubbed.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_IN_PROGRESS")))
    with pytest.raises(OperationError, match=r"busy \(UPDATE_IN_PROGRESS\)"):
        stubbed.cloud.apply_stack(REQUEST, Recorder())


def test_nested_stack_failures_come_first(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log = stubbed, EventLog(NAME)
    nested = EventLog(f"{NAME}-Routes1-XYZ", n=7)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE")
    expect_events(s, log)
    s.cfn.add_response("execute_change_set", {})
    log.stack_event("UPDATE_IN_PROGRESS")
    nested.add("Method1", "AWS::ApiGateway::Method", "CREATE_FAILED", SIBLING_REASON)
    log.add(
        "Routes1",
        "AWS::CloudFormation::Stack",
        "UPDATE_FAILED",
        f"Embedded stack {nested.stack_id} was not successfully updated.",
        physical_id=nested.stack_id,
    )
    log.stack_event("UPDATE_ROLLBACK_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_ROLLBACK_COMPLETE")))
    s.cfn.add_response("describe_stack_events", nested.page(), {"StackName": nested.stack_id})

    with pytest.raises(StackFailed) as caught:
        s.cloud.apply_stack(REQUEST, Recorder())
    assert [f.logical_id for f in caught.value.failures] == ["Method1", "Routes1"]
    assert caught.value.failures[0].reason == SIBLING_REASON
    s.done()


def test_preview_shows_cloudformations_replacement_column(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE")
    changes = [
        resource_change("Modify", "ApiMethodPostsGet", "AWS::ApiGateway::Method", "True"),
        resource_change("Modify", "HandlerFunction", "AWS::Lambda::Function", "False"),
        resource_change("Add", "ApiDeployment2", "AWS::ApiGateway::Deployment"),
    ]
    s.cfn.add_response(
        "describe_change_set", described_change_set(NAME, "CREATE_COMPLETE", changes=changes)
    )
    s.cfn.add_response("delete_change_set", {})

    preview = s.cloud.change_set(REQUEST)

    assert preview.action == "update"
    assert [(c.action, c.logical_id, c.replacement) for c in preview.changes] == [
        ("Modify", "ApiMethodPostsGet", "True"),
        ("Modify", "HandlerFunction", "False"),
        ("Add", "ApiDeployment2", None),
    ]
    assert [c.logical_id for c in preview.replacements] == ["ApiMethodPostsGet"]
    s.done()


def test_preview_of_a_new_stack_adds_everything_without_a_change_set(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    missing_stack(stubbed.cfn, NAME)
    preview = stubbed.cloud.change_set(REQUEST)
    assert preview.action == "create"
    assert [(c.action, c.logical_id) for c in preview.changes] == [("Add", "RestApi")]
    stubbed.done()


def test_preview_with_nothing_to_change_is_noop(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_change_set(s, "UPDATE", reason=EMPTY_REASON)
    s.cfn.add_response("delete_change_set", {})
    assert s.cloud.change_set(REQUEST).action == "noop"
    s.done()


def test_delete_waits_for_the_end(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log, seen = stubbed, EventLog(NAME), Recorder()
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_events(s, log)
    s.cfn.add_response("delete_stack", {}, {"StackName": stack_id(NAME)})
    log.stack_event("DELETE_IN_PROGRESS")
    expect_events(s, log)
    log.add("RestApi", "AWS::ApiGateway::RestApi", "DELETE_COMPLETE")
    log.stack_event("DELETE_COMPLETE")
    expect_events(s, log)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "DELETE_COMPLETE")))

    s.cloud.delete_stack(NAME, seen)

    assert seen.statuses()[-1] == (NAME, "DELETE_COMPLETE")
    s.done()


def test_delete_of_a_missing_stack_does_nothing(stubbed: StubbedCloud) -> None:  # noqa: F811
    missing_stack(stubbed.cfn, NAME)
    stubbed.cloud.delete_stack(NAME, Recorder())
    stubbed.done()


def test_failed_delete_raises(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log = stubbed, EventLog(NAME)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    expect_events(s, log)
    s.cfn.add_response("delete_stack", {})
    log.add(
        "Bucket", "AWS::S3::Bucket", "DELETE_FAILED", "The bucket you tried to delete is not empty"
    )
    log.stack_event("DELETE_FAILED")
    expect_events(s, log)
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "DELETE_FAILED")))
    with pytest.raises(StackFailed, match="is not empty"):
        s.cloud.delete_stack(NAME, Recorder())


def test_describe_reads_template_outputs_and_tags(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    s.cfn.add_response(
        "describe_stacks",
        stacks(stack(NAME, "UPDATE_COMPLETE", outputs={"ApiId": "abc"}, tags={"teal:app": "blog"})),
    )
    s.cfn.add_response(
        "get_template",
        {"TemplateBody": template_body(TEMPLATE)},
        {"StackName": stack_id(NAME), "TemplateStage": "Original"},
    )
    deployed = s.cloud.describe_stack(NAME)
    assert deployed is not None
    assert deployed.template == TEMPLATE
    assert deployed.outputs == {"ApiId": "abc"}
    assert deployed.tags == {"teal:app": "blog"}
    assert deployed.is_stable
    s.done()


@pytest.mark.parametrize("status", ["REVIEW_IN_PROGRESS", None])
def test_describe_of_a_never_deployed_stack_is_none(
    stubbed: StubbedCloud,  # noqa: F811
    status: str | None,
) -> None:
    if status is None:
        missing_stack(stubbed.cfn, NAME)
    else:
        stubbed.cfn.add_response("describe_stacks", stacks(stack(NAME, status)))
    assert stubbed.cloud.describe_stack(NAME) is None


def test_list_stacks_filters_by_tags_and_skips_nested_stacks(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    blog = {"teal:app": "blog"}
    s.cfn.add_response(
        "describe_stacks",
        {
            "Stacks": [stack("blog-dev", "UPDATE_COMPLETE", tags=blog)],
            "NextToken": "page2",
        },
    )
    s.cfn.add_response(
        "describe_stacks",
        stacks(
            stack("other-dev", "UPDATE_COMPLETE", tags={"teal:app": "other"}),
            stack("blog-dev-Routes1-X", "UPDATE_COMPLETE", tags=blog, parent=stack_id(NAME)),
            stack("blog-prod", "CREATE_COMPLETE", tags=blog),
        ),
        {"NextToken": "page2"},
    )
    s.cfn.add_response("get_template", {"TemplateBody": template_body(TEMPLATE)})
    s.cfn.add_response("get_template", {"TemplateBody": template_body(TEMPLATE)})

    listed = s.cloud.list_stacks(blog)

    assert [d.name for d in listed] == ["blog-dev", "blog-prod"]
    s.done()


def test_a_large_template_goes_through_the_bucket(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    big = {
        "Resources": {
            f"Topic{i}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "x" * 40}}
            for i in range(1000)
        }
    }
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_COMPLETE")))
    s.s3.add_response("head_bucket", {}, {"Bucket": s.cloud.artifact_bucket})
    s.s3.add_client_error("head_object", "404", "Not Found", http_status_code=404)
    s.s3.add_response(
        "put_object", {}, {"Bucket": s.cloud.artifact_bucket, "Key": ANY, "Body": ANY}
    )
    s.cfn.add_response(
        "create_change_set",
        {"Id": change_set_id(NAME), "StackId": stack_id(NAME)},
        {
            "StackName": NAME,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Capabilities": ANY,
            "Parameters": [],
            "Tags": [],
            "TemplateURL": ANY,
        },
    )
    s.cfn.add_client_error("describe_change_set", "ValidationError", "stop here")
    with pytest.raises(Exception, match="stop here"):
        s.cloud.apply_stack(StackRequest(NAME, big), Recorder())
    s.done()


def test_aws_refusals_become_operation_errors(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(NAME, "UPDATE_ROLLBACK_FAILED")))
    s.cfn.add_client_error(
        "create_change_set",
        "ValidationError",
        f"Stack:{stack_id(NAME)} is in UPDATE_ROLLBACK_FAILED state and can not be updated.",
    )
    with pytest.raises(OperationError, match="UPDATE_ROLLBACK_FAILED state") as caught:
        s.cloud.apply_stack(REQUEST, Recorder())
    assert caught.value.where == NAME
    s.done()


def test_access_denied_names_the_missing_permission(stubbed: StubbedCloud) -> None:  # noqa: F811
    stubbed.cfn.add_client_error(
        "describe_stacks", "AccessDenied", "User is not authorized", http_status_code=403
    )
    with pytest.raises(OperationError) as caught:
        stubbed.cloud.describe_stack(NAME)
    assert caught.value.hint == "grant these credentials the permission for DescribeStacks"
