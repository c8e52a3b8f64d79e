"""The region a project names is the region of everything the local cloud makes for it.

On AWS a stack lives in one region and every ARN it holds says so: the
function's own ARN in its handler's context, the ARN an authorizer's policy is
judged against (``methodArn``), the rule a schedule's event names. The local
cloud makes a new stack in the region a deploy to AWS would use (``[aws]
region``, else the profile's) and keeps it there, and its one account is the
same in every ARN and event.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from e2e import LocalCloudEnv, free_port
from teal.cloud.local.model import LOCAL_ACCOUNT_ID
from teal.cloud.local.triggers.queues import Message
from teal.cloud.local.triggers.trigger_events import scheduled_event, sqs_event

REGION = "eu-west-1"

TOML = f"""
[app]
name = "where"
entry = "app:app"
runtime = "python3.11"

[aws]
region = "{REGION}"
"""

APP = """
from teal import App, allow

app = App()


@app.authorizer("token", ttl=0)
def check(event, context):
    return allow("ann", context={"method_arn": event["methodArn"]})


@app.route("/me", authorizer="token")
def me(request):
    return {
        "function_arn": request.context.invoked_function_arn,
        "account": request.event["requestContext"]["accountId"],
        "authorizer": request.event["requestContext"]["authorizer"],
    }


@app.schedule("rate(1 day)")
def nightly(event, context):
    return "done"
"""


def fetch(url: str) -> dict[str, str]:
    request = urllib.request.Request(url, headers={"Authorization": "let-me-in"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, str] = json.loads(response.read())
    return answer


def test_every_arn_of_a_local_deploy_is_in_the_projects_region(tmp_path: Path) -> None:
    project = tmp_path / "where"
    project.mkdir()
    (project / "teal.toml").write_text(TOML)
    (project / "app.py").write_text(APP)
    no_profile = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_PROFILE": ""}
    cloud = LocalCloudEnv(tmp_path / "home", free_port(), project)
    try:
        deployed = cloud.teal("deploy", "--json", env=no_profile)
        assert deployed.code == 0, deployed.err
        answer = fetch(deployed.json()["endpoint"] + "me")
    finally:
        cloud.teal("local", "stop")
    function_arn = answer["function_arn"]
    assert function_arn.startswith(f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT_ID}:function:")
    assert answer["account"] == LOCAL_ACCOUNT_ID
    # API Gateway judged the authorizer's policy against the method in the API's region
    method_arn = answer["authorizer"]["method_arn"]
    assert method_arn.startswith(f"arn:aws:execute-api:{REGION}:{LOCAL_ACCOUNT_ID}:")
    assert method_arn.endswith("/GET/me")
    # the stack, and the schedule's rule whose ARN its events name, were made there too
    with sqlite3.connect(cloud.home / "state.db") as db:
        (stack_id,) = db.execute("SELECT stack_id FROM stacks").fetchone()
        (rule_arn,) = db.execute("SELECT arn FROM event_rules").fetchone()
    assert stack_id.startswith(f"arn:aws:cloudformation:{REGION}:{LOCAL_ACCOUNT_ID}:stack/")
    assert rule_arn.startswith(f"arn:aws:events:{REGION}:{LOCAL_ACCOUNT_ID}:rule/")


def test_a_triggers_event_names_the_region_and_account_of_its_source() -> None:
    rule = f"arn:aws:events:{REGION}:{LOCAL_ACCOUNT_ID}:rule/where-dev-nightly"
    event = scheduled_event(rule, datetime(2026, 12, 7, tzinfo=UTC))
    assert (event["region"], event["account"], event["resources"]) == (
        REGION,
        LOCAL_ACCOUNT_ID,
        [rule],
    )
    queue = f"arn:aws:sqs:{REGION}:{LOCAL_ACCOUNT_ID}:where-dev-jobs"
    (record,) = sqs_event(queue, [Message("m1", "hi", "r", 0, 1, 0)])["Records"]
    assert (record["awsRegion"], record["eventSourceARN"]) == (REGION, queue)
