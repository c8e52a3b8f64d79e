"""teal.toml's keys for real apps: policies, function settings Lambda takes as they are,
tags, queues and the [resources] template; bad input is exit 2, naming the line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from teal.project.config import PolicyStatement, load_project, resolve_target
from teal.runtime.errors import ConfigError


def write(tmp_path: Path, text: str, **files: str) -> Path:
    (tmp_path / "teal.toml").write_text(textwrap.dedent(text))
    for name, body in files.items():
        (tmp_path / name.replace("_", ".")).write_text(textwrap.dedent(body))
    return tmp_path


def error_of(tmp_path: Path, text: str, **files: str) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        resolve_target(load_project(write(tmp_path, text, **files)), environ={})
    return raised.value


GOOD = """\
[app]
name = "blog"
tags = { team = "blog" }

[[app.policies]]
effect = "Allow"
actions = ["dynamodb:GetItem", "dynamodb:Query*"]
resources = ["arn:aws:dynamodb:*:*:table/posts"]

[[app.policies]]
effect = "Allow"
actions = ["s3:GetObject"]
resources = ["arn:aws:s3:::media/*"]

[functions.work]
policies = [
  "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
  { effect = "Deny", actions = ["*"], resources = ["*"], conditions = { Bool = { "aws:SecureTransport" = false } } },
]
layers = ["arn:aws:lambda:us-east-1:123456789012:layer:pillow:3"]
reserved_concurrency = 0
vpc = { subnets = ["subnet-0abc1234", "subnet-0abc5678"], security_groups = ["sg-0abc1234"] }

[queues.jobs]
visibility_timeout = 60
max_receive_count = 5

[env.prod]
policies = []
tags = { stage = "prod" }
"""  # noqa: E501


def test_the_keys_resolve_into_the_target(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD))
    target = resolve_target(project, environ={})
    statement, other = target.policies
    assert isinstance(statement, PolicyStatement) and statement.actions[1] == "dynamodb:Query*"
    assert isinstance(other, PolicyStatement) and other.resources == ["arn:aws:s3:::media/*"]
    work = target.function_policies("work")
    assert work[2] == "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    assert isinstance(work[3], PolicyStatement) and work[3].effect == "Deny"
    assert len(target.function_policies("api")) == 2
    settings = target.functions["work"]
    assert settings.reserved_concurrency == 0 and settings.vpc is not None
    assert target.queues["jobs"].max_receive_count == 5
    assert target.tags()["team"] == "blog"
    prod = resolve_target(project, env="prod", environ={})
    assert prod.policies == () and prod.tags()["stage"] == "prod" and prod.tags()["team"] == "blog"


BAD_POLICIES = """\
[app]
name = "blog"
policies = [
  "arn:aws:iam::aws:policy/ReadOnlyAccess",
  { effect = "Alow", actions = ["s3:GetObject"], resources = ["*"] },
  { effect = "Allow", actions = ["s3.GetObject"], resources = ["*"] },
  { effect = "Allow", actions = ["s3:GetObject"], resources = ["my-bucket/*"] },
  { effect = "Allow", actions = [], resources = ["*"] },
  { effect = "Allow", action = ["s3:GetObject"], resources = ["*"] },
  "AmazonS3ReadOnlyAccess",
]
"""


def test_bad_statements_are_each_named_with_their_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, BAD_POLICIES)
    assert error.where == f"{tmp_path / 'teal.toml'}:5"
    lines = error.what.splitlines()[1:]
    assert lines[0].startswith("  - line 5: 'app.policies.1.effect': Input should be 'Allow' or")
    assert lines[1].startswith("  - line 6: 'app.policies.2.actions.0': not an IAM action")
    assert lines[2].startswith("  - line 7: 'app.policies.3.resources.0': not an IAM resource")
    assert lines[3].startswith("  - line 8: 'app.policies.4.actions': must list at least one")
    assert "line 9: missing key 'app.policies.5.actions'" in lines[4]
    assert "line 9: unknown key 'app.policies.5.action' (did you mean 'actions'?)" in lines[5]
    assert lines[-1].startswith("  - line 10: 'app.policies.6': not a managed policy ARN")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('layers = ["pillow"]', "not a layer version ARN"),
        (
            "layers = ["
            + ",".join(['"arn:aws:lambda:us-east-1:123456789012:layer:x:1"'] * 6)
            + "]",
            "Lambda allows 5 layers",
        ),
        ("reserved_concurrency = -1", "greater than or equal to 0"),
        ('vpc = { subnets = ["subnet-1"], security_groups = ["sg-0abc1234"] }', "not a subnet id"),
        ('vpc = { subnets = [], security_groups = ["sg-0abc1234"] }', "must list at least one"),
        (
            'vpc = { subnets = ["subnet-0abc1234"] }',
            "missing key 'functions.work.vpc.security_groups'",
        ),
    ],
)
def test_bad_function_settings(tmp_path: Path, setting: str, message: str) -> None:
    error = error_of(tmp_path, f'[app]\nname = "blog"\n\n[functions.work]\n{setting}\n')
    assert message in error.what
    assert error.where == f"{tmp_path / 'teal.toml'}:5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tags = { "aws:owner" = "me" }', "are reserved"),
        ('tags = { "teal:app" = "me" }', "are reserved"),
        ("tags = { " + ", ".join(f"t{i} = 'x'" for i in range(47)) + " }", "at most 46 tags"),
    ],
)
def test_bad_tags(tmp_path: Path, text: str, message: str) -> None:
    assert message in error_of(tmp_path, f'[app]\nname = "blog"\n{text}\n').what


RESOURCES_YAML = """\
Description: the blog's table
Resources:
  Posts:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-posts"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
Outputs:
  PostsTable:
    Value: !Ref Posts
  PostsArn:
    Value: !GetAtt Posts.Arn
"""


def test_a_yaml_resources_template_with_short_tags(tmp_path: Path) -> None:
    project = load_project(
        write(
            tmp_path,
            '[app]\nname = "blog"\n\n[resources]\ntemplate = "resources.yaml"\n',
            resources_yaml=RESOURCES_YAML,
        )
    )
    extra = resolve_target(project, environ={}).extra_resources
    assert extra is not None
    assert extra.resources["Posts"]["Properties"]["TableName"] == {
        "Fn::Sub": "${AWS::StackName}-posts"
    }
    assert extra.outputs["PostsArn"] == {"Value": {"Fn::GetAtt": ["Posts", "Arn"]}}
    assert extra.where("Posts") == f"{tmp_path / 'resources.yaml'}:4"


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("Resources:\n  Posts:\n    Type: AWS::DynamoDB::Tabel\n", "not a resource type", 3),
        (
            "Parameters: {}\nResources:\n  A:\n    Type: AWS::SQS::Queue\n",
            "also has Parameters",
            None,
        ),
        ("Resources: {}\n", "has no Resources", None),
        (
            "Resources:\n  A:\n    Type: AWS::SQS::Queue\nOutputs:\n  Url:\n    Value: !Ref A\n"
            "    Export: {Name: x}\n",
            "has an Export",
            6,
        ),
        (
            "Resources:\n  A:\n    Type: AWS::SQS::Queue\nOutputs:\n  queue_url:\n    Value: x\n",
            "output names of letters and digits",
            6,
        ),
        ("Resources:\n  A: [\n", "not valid", None),
    ],
)
def test_bad_resources_templates_are_refused(
    tmp_path: Path, body: str, message: str, line: int | None
) -> None:
    error = error_of(
        tmp_path, '[app]\nname = "blog"\n\n[resources]\ntemplate = "r.yaml"\n', r_yaml=body
    )
    assert message in error.what
    if line is not None:
        assert error.where == f"{tmp_path / 'r.yaml'}:{line}"


def test_a_missing_resources_template_names_the_teal_toml_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[app]\nname = "blog"\n\n[resources]\ntemplate = "nope.json"\n')
    assert "does not exist" in error.what
    assert error.where == f"{tmp_path / 'teal.toml'}:4"


def test_a_json_resources_template(tmp_path: Path) -> None:
    body = '{"Resources": {"Jobs": {"Type": "AWS::SQS::Queue"}}}'
    project = load_project(
        write(tmp_path, '[app]\nname = "blog"\n[resources]\ntemplate = "r.json"\n', r_json=body)
    )
    extra: Any = resolve_target(project, environ={}).extra_resources
    assert extra.types() == {"Jobs": "AWS::SQS::Queue"}


CLI_APP = """
from teal import App

app = App()


@app.route("/")
def home(request):
    return {}


@app.schedule(SCHEDULE)
def tick(event, context):
    pass


@app.on_sqs_message(queue=QUEUE)
def work(event, context):
    pass
"""


@pytest.mark.parametrize(
    ("toml_extra", "schedule", "queue", "message"),
    [
        (
            'policies = [{ effect = "Allow", actions = ["s3:Get"], resources = ["bucket"] }]\n',
            '"rate(1 minute)"',
            '"jobs"',
            "teal.toml:4: invalid configuration",
        ),
        ("", '"rate(2 minute)"', '"jobs"', "write 'rate(2 minutes)'"),
        ("", '"rate(1 minute)"', '"arn:aws:sqs:us-east-1:123456789012:jobs"', "shared=True"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_made(
    make_project: Any,
    teal_cli: Any,
    toml_extra: str,
    schedule: str,
    queue: str,
    message: str,
) -> None:
    source = CLI_APP.replace("SCHEDULE", schedule).replace("QUEUE", queue)
    root = make_project(source, f'[app]\nname = "demo"\nruntime = "python3.11"\n{toml_extra}')
    run = teal_cli("template", "--project", str(root))
    assert run.code == 2, run.err
    assert message in run.err


NEXT_GENERATION = [
    # the next API and what it owns, named as a replacement names them (RestApi1, ...G1)
    ("resource", "RestApi1"),
    ("resource", "StageG1"),
    ("resource", "UsagePlanKeyG2"),
    ("resource", "ApiPage1G1"),
    ("resource", "GatewayResponseDefault4XXG1"),
    ("resource", "Deployment5d5119921d72"),
    ("resource", "FnHome3a7f5d9bG1"),
    ("resource", "FnHome3a7f5d9bRoleG1"),
    ("resource", "MethodRootGet8a5edab2G1"),
    ("output", "RetiringRestApiId"),
    ("output", "FnHome3a7f5d9bName"),
]


@pytest.mark.parametrize(("kind", "name"), NEXT_GENERATION, ids=[n for _, n in NEXT_GENERATION])
def test_a_name_teal_gives_its_own_in_a_later_generation_is_refused_when_read(
    make_project: Any, teal_cli: Any, kind: str, name: str
) -> None:
    """Not first when the API is replaced (where the current generation's ids did not
    hold it), but by every command that reads the project: exit 2, the line, a way out."""
    resources = (
        f"Resources:\n  {name}:\n    Type: AWS::SNS::Topic\n"
        if kind == "resource"
        else f"Resources:\n  Alerts:\n    Type: AWS::SNS::Topic\nOutputs:\n  {name}:\n"
        "    Value: !Ref Alerts\n"
    )
    toml = '[app]\nname = "demo"\nruntime = "python3.11"\n\n[resources]\ntemplate = "r.yaml"\n'
    root = make_project('from teal import App\napp = App()\napp.route("/")(print)\n', toml)
    (root / "r.yaml").write_text(resources)
    run = teal_cli("template", "--project", str(root), "--json")
    assert run.code == 2, run.out
    line = 3 if kind == "resource" else 6  # where its body starts, as for every resource
    assert f"r.yaml:{line}" in run.err
    assert f"{kind} {name} is named as" in run.err and "rename" in run.err


def test_a_resource_outside_teals_names_is_kept(make_project: Any, teal_cli: Any) -> None:
    """The families are teal's names only: ids a user writes stay theirs."""
    ids = ("Posts", "RestApiCache", "Stage2Bucket", "FunctionsTable", "Results", "Queue")
    body = "".join(f"  {i}:\n    Type: AWS::SNS::Topic\n" for i in ids)
    toml = '[app]\nname = "demo"\nruntime = "python3.11"\n\n[resources]\ntemplate = "r.yaml"\n'
    root = make_project('from teal import App\napp = App()\napp.route("/")(print)\n', toml)
    (root / "r.yaml").write_text("Resources:\n" + body)
    run = teal_cli("template", "--project", str(root), "--json")
    assert run.code == 0, run.err
    assert set(ids) <= set(json.loads(run.out)["template"]["Resources"])
