"""Synthesis of what real apps need: permissions, schedules, queues, extra resources,
and the function settings that pass through to Lambda. Every template is cfn-lint clean."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from teal.project.config import (
    FunctionSettings,
    PolicyStatement,
    QueueSettings,
    VpcSettings,
)
from teal.project.resources_file import ExtraResources
from teal.project.trigger_checks import build_triggers
from teal.runtime.access import CORSConfig
from teal.runtime.app import App
from teal.runtime.errors import ConfigError
from teal.runtime.routes import RouteTable
from teal.template import synthesize
from teal.template.combine import combine_for_switch
from teal.template.functions import permission_id, role_id
from teal.template.names import function_id
from teal.template.queues import dead_letter_id, queue_id
from teal.template.versions import alias_id
from test_template_support import CODE_KEY, lint_errors, make_target

READ_POSTS = PolicyStatement(
    effect="Allow", actions=["dynamodb:GetItem"], resources=["arn:aws:dynamodb:*:*:table/posts"]
)
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
ORDERS = "arn:aws:sqs:us-east-1:123456789012:orders"
LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:pillow:3"


def _ok(*_: Any) -> Any:
    return {}


def real_app() -> RouteTable:
    """A route, a function two schedules run, a consumer of two queues."""
    app = App()
    app.route("/posts", function="api")(_ok)

    def tick(event: Any, context: Any) -> None: ...

    def work(event: Any, context: Any) -> None: ...

    app.schedule("rate(5 minutes)")(tick)
    app.schedule("cron(0 12 * * ? *)")(tick)
    app.on_sqs_message(queue="jobs", batch_size=5)(work)
    app.on_sqs_message(queue=ORDERS, shared=True)(work)
    return dataclasses.replace(app.routes(), triggers=build_triggers(app.triggers))


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def role_policies(template: dict[str, Any], function: str) -> dict[str, Any]:
    role = template["Resources"][role_id(function)]["Properties"]
    return {p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in role["Policies"]}


def test_policies_reach_every_role_and_a_functions_own_only_its_role() -> None:
    target = make_target(
        policies=(READ_POSTS, S3_READ),
        functions={
            "work": FunctionSettings(
                policies=[
                    PolicyStatement(
                        effect="Deny",
                        actions=["s3:Delete*"],
                        resources=["*"],
                        conditions={"Bool": {"aws:SecureTransport": False}},
                    )
                ]
            )
        },
    )
    template = synthesize(real_app(), target, CODE_KEY).template

    api = role_policies(template, "api")
    assert set(api) == {"own-logs", "teal-policies"}  # the log policy stays
    assert api["teal-policies"] == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": ["arn:aws:dynamodb:*:*:table/posts"],
        }
    ]
    work = role_policies(template, "work")["teal-policies"]
    assert work[1] == {
        "Effect": "Deny",
        "Action": ["s3:Delete*"],
        "Resource": ["*"],
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }
    managed = template["Resources"][role_id("api")]["Properties"]["ManagedPolicyArns"]
    assert managed == [S3_READ]
    assert lint_errors(template) == []


def test_least_privilege_stays_the_default() -> None:
    template = synthesize(real_app(), make_target(), CODE_KEY).template
    assert set(role_policies(template, "api")) == {"own-logs"}
    assert "ManagedPolicyArns" not in template["Resources"][role_id("api")]["Properties"]
    assert set(role_policies(template, "tick")) == {"own-logs"}


def test_a_consumer_may_receive_and_delete_the_messages_of_its_queues_only() -> None:
    template = synthesize(real_app(), make_target(), CODE_KEY).template
    [statement] = role_policies(template, "work")["queue-consumer"]
    assert statement["Action"] == [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    ]
    assert statement["Resource"] == [{"Fn::GetAtt": [queue_id("jobs"), "Arn"]}, ORDERS]


def test_schedules_are_rules_with_a_permission_for_eventbridge() -> None:
    template = synthesize(real_app(), make_target(), CODE_KEY).template
    rules = resources_of(template, "AWS::Events::Rule")
    assert [r["Properties"]["ScheduleExpression"] for r in rules.values()] == [
        "rate(5 minutes)",
        "cron(0 12 * * ? *)",
    ]
    for rule_id, rule in rules.items():
        target = rule["Properties"]["Targets"][0]
        assert target["Arn"] == {"Ref": alias_id("tick")}  # the alias, never $LATEST
        permission = template["Resources"][f"{rule_id}Permission"]["Properties"]
        assert permission["Principal"] == "events.amazonaws.com"
        assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    assert lint_errors(template) == []


def test_a_function_only_triggers_run_has_no_api_permission() -> None:
    template = synthesize(real_app(), make_target(), CODE_KEY).template
    assert permission_id("api") in template["Resources"]
    assert permission_id("tick") not in template["Resources"]
    assert permission_id("work") not in template["Resources"]
    assert set(template["Metadata"]["teal"]["functions"]) == {"api", "tick", "work"}


def test_queues_teal_defines_with_their_dead_letter_queue_and_consumers() -> None:
    target = make_target(
        timeout=20, queues={"jobs": QueueSettings(max_receive_count=3, visibility_timeout=60)}
    )
    template = synthesize(real_app(), target, CODE_KEY).template
    queue = template["Resources"][queue_id("jobs")]["Properties"]
    assert queue["VisibilityTimeout"] == 60
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letter_id("jobs"), "Arn"]},
        "maxReceiveCount": 3,
    }
    mappings = resources_of(template, "AWS::Lambda::EventSourceMapping")
    sources = {str(m["Properties"]["EventSourceArn"]): m["Properties"] for m in mappings.values()}
    assert sources[ORDERS]["BatchSize"] == 10
    jobs = sources[str({"Fn::GetAtt": [queue_id("jobs"), "Arn"]})]
    assert jobs["BatchSize"] == 5 and jobs["FunctionName"] == {"Ref": function_id("work")}
    variables = template["Resources"][function_id("api")]["Properties"]["Environment"]
    assert variables["Variables"]["TEAL_QUEUE_JOBS_URL"] == {"Ref": queue_id("jobs")}
    assert lint_errors(template) == []


def test_the_default_visibility_timeout_is_six_times_the_consumers_timeout() -> None:
    template = synthesize(real_app(), make_target(timeout=25), CODE_KEY).template
    assert template["Resources"][queue_id("jobs")]["Properties"]["VisibilityTimeout"] == 150
    assert "RedrivePolicy" not in template["Resources"][queue_id("jobs")]["Properties"]


def test_a_visibility_timeout_shorter_than_the_consumers_timeout_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "teal.toml").write_text(
        '[app]\nname = "blog"\n\n[queues.jobs]\nvisibility_timeout = 5\n'
    )
    target = make_target(
        project_dir=tmp_path, timeout=20, queues={"jobs": QueueSettings(visibility_timeout=5)}
    )
    with pytest.raises(ConfigError) as raised:
        synthesize(real_app(), target, CODE_KEY)
    assert raised.value.where == f"{tmp_path / 'teal.toml'}:4"
    assert "shorter than the timeout of a function consuming it (20 s)" in raised.value.what


def test_layers_reserved_concurrency_and_vpc_pass_through_to_lambda() -> None:
    vpc = VpcSettings(subnets=["subnet-0abc1234"], security_groups=["sg-0abc1234"])
    target = make_target(
        functions={"api": FunctionSettings(layers=[LAYER], reserved_concurrency=5, vpc=vpc)}
    )
    template = synthesize(real_app(), target, CODE_KEY).template
    function = template["Resources"][function_id("api")]["Properties"]
    assert function["Layers"] == [LAYER]
    assert function["ReservedConcurrentExecutions"] == 5
    assert function["VpcConfig"] == {
        "SubnetIds": ["subnet-0abc1234"],
        "SecurityGroupIds": ["sg-0abc1234"],
    }
    role = template["Resources"][role_id("api")]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {
            "Fn::Sub": (
                "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
            )
        }
    ]
    other = template["Resources"][function_id("work")]["Properties"]
    assert not {"Layers", "VpcConfig", "ReservedConcurrentExecutions"} & set(other)
    assert lint_errors(template) == []


def test_stack_tags_are_the_users_and_teals() -> None:
    target = make_target(user_tags={"team": "blog", "cost-center": "42"})
    assert target.tags() == {
        "team": "blog",
        "cost-center": "42",
        "teal:app": "blog",
        "teal:env": "dev",
        "teal:environment": "blog-dev",
    }
    template = synthesize(real_app(), target, CODE_KEY).template
    assert template["Metadata"]["teal"]["tags"] == {"cost-center": "42", "team": "blog"}


TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    },
}


def extra(**resources: Any) -> ExtraResources:
    return ExtraResources(
        Path("resources.yaml"),
        resources or {"Posts": TABLE},
        {"PostsTable": {"Value": {"Ref": "Posts"}}},
        {"Posts": 2, "PostsTable": 9},
    )


def test_extra_resources_join_the_stack_and_their_outputs_reach_functions() -> None:
    target = make_target(
        extra_resources=extra(),
        policies=(
            PolicyStatement(effect="Allow", actions=["dynamodb:*Item"], resources=["${Posts.Arn}"]),
        ),
    )
    template = synthesize(real_app(), target, CODE_KEY).template
    assert template["Resources"]["Posts"] == TABLE
    assert template["Outputs"]["PostsTable"] == {"Value": {"Ref": "Posts"}}
    for function in ("api", "tick", "work"):
        variables = template["Resources"][function_id(function)]["Properties"]["Environment"]
        assert variables["Variables"]["PostsTable"] == {"Ref": "Posts"}
    statement = role_policies(template, "api")["teal-policies"][0]
    assert statement["Resource"] == [{"Fn::Sub": "${Posts.Arn}"}]
    assert lint_errors(template) == []


def test_a_queue_of_the_extra_template_is_consumed_where_it_is() -> None:
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 120}}
    target = make_target(extra_resources=ExtraResources(Path("r.yaml"), {"jobs": queue}))
    template = synthesize(real_app(), target, CODE_KEY).template
    assert queue_id("jobs") not in template["Resources"]
    mappings = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    assert {"Fn::GetAtt": ["jobs", "Arn"]} in [m["Properties"]["EventSourceArn"] for m in mappings]
    assert lint_errors(template) == []


def test_an_extra_resource_may_not_take_one_of_teals_logical_ids() -> None:
    target = make_target(extra_resources=extra(**{function_id("api"): TABLE}))
    with pytest.raises(ConfigError) as raised:
        synthesize(real_app(), target, CODE_KEY)
    assert "logical id teal uses" in raised.value.what


def test_a_policy_may_not_name_a_resource_the_extra_template_lacks(tmp_path: Path) -> None:
    (tmp_path / "teal.toml").write_text('[app]\nname = "blog"\npolicies = []\n')
    target = make_target(
        project_dir=tmp_path,
        policies=(
            PolicyStatement(
                effect="Allow", actions=["s3:GetObject"], resources=["${Bucket.Arn}/*"]
            ),
        ),
    )
    with pytest.raises(ConfigError) as raised:
        synthesize(real_app(), target, CODE_KEY)
    assert raised.value.where == f"{tmp_path / 'teal.toml'}:3"


def test_triggers_follow_their_functions_generation_and_queues_stay() -> None:
    """A replaced API's functions get new ids; their rules and mappings too, so the
    side-by-side union holds both, and the queue (with its messages) is shared."""
    table = real_app()
    old = synthesize(table, make_target(), CODE_KEY).template
    new = synthesize(table, make_target(), CODE_KEY, "RestApi1").template
    rules_old, rules_new = (set(resources_of(t, "AWS::Events::Rule")) for t in (old, new))
    assert rules_old and not rules_old & rules_new
    assert queue_id("jobs") in old["Resources"] and queue_id("jobs") in new["Resources"]
    union = combine_for_switch(old, new)
    assert len(resources_of(union, "AWS::Events::Rule")) == 4
    assert lint_errors(union) == []


def test_app_wide_cors_keeps_the_apps_schedules_and_queue_consumers() -> None:
    """Resolving CORS once rebuilt the route table by hand and dropped its triggers: the
    schedule's rule and the queue's event source mapping vanished from the template."""
    alone = synthesize(real_app(), make_target(), CODE_KEY).template
    with_cors = synthesize(real_app(), make_target(cors=CORSConfig()), CODE_KEY).template
    for kind in ("AWS::Events::Rule", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission"):
        assert sorted(resources_of(with_cors, kind)) == sorted(resources_of(alone, kind)), kind
    assert len(resources_of(with_cors, "AWS::Events::Rule")) == 2
