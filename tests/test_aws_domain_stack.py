"""The custom domain's own stack, owned by no environment, tagged with its app."""

from __future__ import annotations

import json
from typing import Any

from botocore.stub import ANY

from aws_fakes import (  # noqa: F401
    EventLog,
    StubbedCloud,
    change_set_id,
    described_change_set,
    missing_stack,
    stack,
    stack_id,
    stacks,
    stubbed,
)
from teal.project.config import DomainSpec

DOMAIN = "api.example.com"
STACK = "teal-domain-api-example-com"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
TAGS = {"teal:app": "blog"}


def test_ensure_domain_creates_its_stack_with_the_app_tag(stubbed: StubbedCloud) -> None:  # noqa: F811
    s, log = stubbed, EventLog(STACK)
    bodies: list[dict[str, Any]] = []

    def keep_template(params: dict[str, Any], **_: Any) -> None:
        if "TemplateBody" in params:
            bodies.append(json.loads(params["TemplateBody"]))

    s.clients.cloudformation.meta.events.register(
        "provide-client-params.cloudformation.CreateChangeSet", keep_template
    )
    missing_stack(s.cfn, STACK)  # ownership check
    missing_stack(s.cfn, STACK)  # create or update?
    s.cfn.add_response(
        "create_change_set",
        {"Id": change_set_id(STACK), "StackId": stack_id(STACK)},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "Capabilities": ANY,
            "Parameters": [],
            # The domain tag keeps the domain's stack out of the app's environments.
            "Tags": [
                {"Key": "teal:app", "Value": "blog"},
                {"Key": "teal:domain", "Value": "api.example.com"},
            ],
            "TemplateBody": ANY,
        },
    )
    s.cfn.add_response("describe_change_set", described_change_set(STACK, "CREATE_COMPLETE"))
    s.cfn.add_response("describe_stack_events", log.page())
    s.cfn.add_response("execute_change_set", {})
    log.add("DomainName", "AWS::ApiGateway::DomainName", "CREATE_COMPLETE")
    log.stack_event("CREATE_COMPLETE")
    s.cfn.add_response("describe_stack_events", log.page())
    s.cfn.add_response("describe_stacks", stacks(stack(STACK, "CREATE_COMPLETE", tags=TAGS)))

    info = s.cloud.ensure_domain(
        DomainSpec(DOMAIN, base_path="v1", certificate_arn=CERT, hosted_zone="example.com"), TAGS
    )

    assert info.url == "https://api.example.com/v1/"
    assert info.tags == TAGS
    resources = bodies[0]["Resources"]
    assert resources["DomainName"]["Properties"]["RegionalCertificateArn"] == CERT
    assert resources["AliasRecord"]["Type"] == "AWS::Route53::RecordSet"
    s.done()


def test_an_unchanged_domain_is_left_alone(stubbed: StubbedCloud) -> None:  # noqa: F811
    s = stubbed
    s.cfn.add_response("describe_stacks", stacks(stack(STACK, "CREATE_COMPLETE", tags=TAGS)))
    s.cfn.add_response("describe_stacks", stacks(stack(STACK, "CREATE_COMPLETE", tags=TAGS)))
    s.cfn.add_response(
        "create_change_set", {"Id": change_set_id(STACK), "StackId": stack_id(STACK)}
    )
    s.cfn.add_response(
        "describe_change_set",
        described_change_set(STACK, "FAILED", "No updates are to be performed."),
    )
    s.cfn.add_response("delete_change_set", {})
    info = s.cloud.ensure_domain(DomainSpec(DOMAIN, certificate_arn=CERT), TAGS)
    assert info.url == "https://api.example.com/"
    s.done()


def test_a_domain_another_app_made_is_shared_and_left_as_it_is(
    stubbed: StubbedCloud,  # noqa: F811
) -> None:
    maker = {"teal:app": "shop"}
    stubbed.cfn.add_response("describe_stacks", stacks(stack(STACK, "CREATE_COMPLETE", tags=maker)))
    # no change set: the app that made the domain keeps its stack (and its tag)
    info = stubbed.cloud.ensure_domain(DomainSpec(DOMAIN, "v1", certificate_arn=CERT), TAGS)
    assert info.tags == maker
    assert info.url == "https://api.example.com/v1/"
    stubbed.done()
