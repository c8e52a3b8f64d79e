"""Schedules and queues on the local cloud, end to end through the CLI.

A schedule fires within its period while the gateway runs (the scheduler's
clock runs 60 times as fast here: ``rate(1 minute)`` fires every second); a
message sent with ``teal send`` reaches the queue's consumer as SQS's event;
a batch whose invocation fails comes back after the queue's visibility timeout
and is delivered again. The deploy says once where the local cloud is not AWS.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from e2e import LocalCloudEnv, free_port
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.triggers.scheduler import SPEED_VARIABLE

APP = """\
import json

from teal import App

app = App()


@app.route("/")
def home(request):
    return {"ok": True}


@app.schedule("rate(1 minute)")
def tick(event, context):
    print("TICK " + json.dumps(event))


@app.on_sqs_message(queue="jobs", batch_size=5)
def work(event, context):
    for record in event["Records"]:
        count = record["attributes"]["ApproximateReceiveCount"]
        print(f"GOT {record['body']} {count} {record['eventSourceARN']}")
        if record["body"] == "fail-once" and count == "1":
            raise RuntimeError("the first delivery fails")
"""

TOML = """\
[app]
name = "jobs"
runtime = "python3.11"
policies = ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]

[functions.work]
timeout = 1
layers = ["arn:aws:lambda:us-east-1:123456789012:layer:pillow:3"]

[queues.jobs]
visibility_timeout = 2

[resources]
template = "resources.yaml"
"""

RESOURCES = """\
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
"""


@pytest.fixture
def jobs_cloud(tmp_path: Path) -> Iterator[LocalCloudEnv]:
    project = tmp_path / "jobs"
    project.mkdir()
    (project / "app.py").write_text(APP)
    (project / "teal.toml").write_text(TOML)
    (project / "resources.yaml").write_text(RESOURCES)
    cloud = LocalCloudEnv(tmp_path / "teal-home", free_port(), project)
    yield cloud
    cloud.teal("local", "stop")
    shutil.rmtree(cloud.home / "code", ignore_errors=True)


def log_lines(
    cloud: LocalCloudEnv, function: str, prefix: str, environment: str = "jobs-dev"
) -> list[str]:
    """What the function's workers wrote, each line without its time, that starts with prefix.

    Every function of the environment writes to the environment's one log group, in log
    streams named after the function (``<day>/<function>[$LATEST]<id>``).
    """
    folder = LocalPaths(cloud.home).log_folder(f"/aws/lambda/{environment}")
    files = [f for f in sorted(folder.glob("*.log")) if f"/{function}[" in unquote(f.name)]
    lines = [
        line.split("\t", 1)[-1]
        for file in files
        for line in file.read_text(errors="replace").splitlines()
    ]
    return [line for line in lines if line.startswith(prefix)]


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_schedules_fire_messages_are_consumed_and_failed_batches_come_back(
    jobs_cloud: LocalCloudEnv,
) -> None:
    cloud = jobs_cloud
    deployed = cloud.teal("deploy", env={SPEED_VARIABLE: "60"})
    assert deployed.code == 0, deployed.err

    # the deploy said, once each, where the local cloud is not AWS
    assert deployed.err.count("does not enforce IAM") == 1
    assert "ignores the functions' layers" in deployed.err
    assert "not emulated by the local cloud, recorded without being created: " in deployed.err
    assert "AWS::DynamoDB::Table" in deployed.err

    # a rate(1 minute) fires each (fast) minute: twice within three real seconds
    assert wait_for(lambda: len(log_lines(cloud, "jobs-dev-tick", "TICK")) >= 2, 15)
    event = json.loads(log_lines(cloud, "jobs-dev-tick", "TICK")[0].removeprefix("TICK "))
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:000000000000:rule/jobs-dev-")

    # a message reaches the consumer as SQS's event
    sent = cloud.teal("send", "jobs", "hello", "--json")
    assert sent.code == 0, sent.err
    answer = sent.json()
    assert answer["queue_url"].startswith("https://sqs.us-east-1.amazonaws.com/000000000000/")
    assert answer["md5_of_body"] == "5d41402abc4b2a76b9719d911017c592"
    assert wait_for(lambda: bool(log_lines(cloud, "jobs-dev-work", "GOT hello 1 arn:aws:sqs:")), 10)

    # a failed batch is delivered again once its visibility timeout (2 s) ends
    started = time.monotonic()
    assert cloud.teal("send", "jobs", "fail-once").code == 0
    assert wait_for(lambda: bool(log_lines(cloud, "jobs-dev-work", "GOT fail-once 2")), 15)
    took = time.monotonic() - started
    assert log_lines(cloud, "jobs-dev-work", "GOT fail-once 1")
    assert took >= 2.0  # not before the visibility timeout
    assert len(log_lines(cloud, "jobs-dev-work", "GOT hello")) == 1  # deleted once consumed


def test_send_to_a_queue_the_environment_lacks_is_bad_input(jobs_cloud: LocalCloudEnv) -> None:
    cloud = jobs_cloud
    assert cloud.teal("deploy").code == 0
    missing = cloud.teal("send", "nope", "x")
    assert missing.code == 2
    assert "has no queue 'nope'" in missing.err and "its queues: jobs" in missing.err


def test_the_queue_outlives_a_replacement_of_the_api(jobs_cloud: LocalCloudEnv) -> None:
    """The queue is the environment's, not the API generation's: a replacement of the
    API keeps it (its URL, and a message waiting in it), and the new generation's
    consumer takes what comes next."""
    cloud = jobs_cloud
    cloud.edit_app('@app.route("/")', '@app.route("/items/{id}")')
    assert cloud.teal("deploy").code == 0
    assert cloud.teal("local", "stop").code == 0  # nobody polls: the message waits
    waiting = cloud.teal("send", "jobs", "waiting", "--json").json()

    cloud.edit_app('"/items/{id}"', '"/items/{item_id}"')  # a new API, new functions
    replaced = cloud.teal("deploy", "--json")
    assert replaced.code == 0, replaced.err
    assert replaced.json()["api_replaced"] is True
    after = cloud.teal("send", "jobs", "after", "--json").json()

    assert after["queue_url"] == waiting["queue_url"]
    assert wait_for(lambda: bool(log_lines(cloud, "jobs-dev-work-g1", "GOT after 1")), 15)

    # the waiting message went to whichever consumer polled first (SQS: at least once)
    def waiting_delivered() -> bool:
        return bool(
            log_lines(cloud, "jobs-dev-work", "GOT waiting")
            + log_lines(cloud, "jobs-dev-work-g1", "GOT waiting")
        )

    assert wait_for(waiting_delivered, 15)
