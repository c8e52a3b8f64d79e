"""A deploy of an unchanged app makes as many AWS calls for 1,000 routes as for 10.

The whole ``teal.ops.deploy.deploy()`` runs against :class:`AwsCloud`: S3 and API
Gateway on a moto server, CloudFormation answered by a fake that keeps the
very templates teal synthesizes (see ``aws_cfn_fake``). The first deploy
creates the stack (with nested page stacks for 1,000 routes), its custom
domain and mapping; the second finds nothing to change, and every AWS call it
makes is counted with botocore's ``before-call`` hook.
"""

from __future__ import annotations

import textwrap
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto_endpoint, no_sleep  # noqa: F401
from runtime_here import RUNTIME
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.nested import BUNDLE_PREFIX
from teal.cloud.aws.session import open_session
from teal.cloud.base import StackEvent
from teal.ops.decision import Decision, ReplacePolicy
from teal.ops.deploy import DeployReport, deploy
from teal.project.config import load_project, resolve_target

# A bound, not the exact count, so that orchestration changes do not break this test;
# measured: 16 calls for the small app: the lock 3 (put, get, delete), the stack 2
# (describe, template), the domain read twice 5 + 5 (mapping, domain, its stack's tags,
# environments: list and template), the history 1.
MOST_CALLS = 20
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def write_app(root: Path, name: str, routes: int) -> Path:
    """An app of ``routes`` routes in ten functions, with a custom domain."""
    root.mkdir(parents=True)
    (root / "teal.toml").write_text(
        textwrap.dedent(
            f"""\
            [app]
            name = "{name}"
            entry = "app:app"
            runtime = "{RUNTIME}"
            cloud = "aws"

            [aws]
            region = "us-east-1"

            [domain]
            name = "{name}.example.com"
            certificate_arn = "{CERTIFICATE}"
            """
        )
    )
    (root / "app.py").write_text(
        textwrap.dedent(
            f"""\
            from teal import App

            app = App()

            def make(i):
                def handler(request):
                    return {{"i": i}}
                return handler

            for i in range({routes}):
                app.route(
                    f"/g{{i % 10}}/items{{i}}/{{{{id}}}}", methods=["GET"], function=f"f{{i % 10}}"
                )(make(i))
            """
        )
    )
    return root


def reset(moto: str) -> None:
    request = urllib.request.Request(f"{moto}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def ignore(_: object) -> None:
    return None


class CallCounter:
    """Every API call the cloud's clients make, by service and operation.

    Reads of a stack's bundle of nested templates are told apart from other
    S3 reads (the lock's), since only stacks with nested pages have one.
    """

    def __init__(self, cloud: AwsCloud) -> None:
        self.calls: list[str] = []
        self.counting = False
        clients = cloud.clients
        for client in (clients.cloudformation, clients.s3, clients.apigateway):
            # First, so the call is seen before the fake CloudFormation answers it.
            client.meta.events.register_first("before-parameter-build.*.*", self._seen)

    def _seen(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.counting:
            return
        call = f"{model.service_model.service_id}.{model.name}"
        if str(params.get("Key", "")).startswith(BUNDLE_PREFIX):
            call += "(bundle)"
        self.calls.append(call)


def deploy_twice(moto: str, root: Path) -> tuple[DeployReport, list[str]]:
    """Deploy the app, then deploy it again unchanged; the calls of the second deploy."""
    reset(moto)
    clients = open_session("us-east-1", None, moto)
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    session_clients = open_session("us-east-1", None, moto)
    fake = FakeCloudFormation(session_clients.apigateway, session_clients.s3)
    fake.attach(clients.cloudformation)
    counter = CallCounter(cloud)
    target = resolve_target(load_project(root), cloud="aws")
    policy = ReplacePolicy("auto")

    def run() -> DeployReport:
        events: list[StackEvent] = []
        return deploy(target, cloud, policy, on_event=events.append, progress=ignore, user="tester")

    first = run()
    assert first.decision is Decision.CREATE
    assert first.domain is not None and first.domain.live == target.environment
    counter.counting = True
    second = run()
    return second, counter.calls


@pytest.fixture
def moto(moto_endpoint: str, aws_env: None) -> str:  # noqa: F811
    return moto_endpoint


def test_an_unchanged_deploy_costs_the_same_calls_for_10_1000_and_2000_routes(
    moto: str, tmp_path: Path
) -> None:
    small, small_calls = deploy_twice(moto, write_app(tmp_path / "small", "small", 10))
    large, large_calls = deploy_twice(moto, write_app(tmp_path / "large", "large", 1000))
    _, larger_calls = deploy_twice(moto, write_app(tmp_path / "larger", "larger", 2000))

    for report in (small, large):
        assert report.decision is Decision.NOOP
        assert report.domain is not None and report.domain.live == report.target.environment
    assert larger_calls == large_calls
    # Reading a stack with nested pages costs one call more than reading one without:
    # the bundle of its page templates. Apart from it, the same calls in the same order.
    bundle = "S3.GetObject(bundle)"
    assert [call for call in large_calls if call != bundle] == small_calls
    reads = Counter(large_calls)
    # One bundle per stack read: this environment's, and the environments listed to see
    # whom the domain serves.
    assert reads[bundle] == reads["CloudFormation.GetTemplate"]
    assert "CloudFormation.DescribeStackResource" not in reads
    assert "CloudFormation.CreateChangeSet" not in reads
    assert len(small_calls) <= MOST_CALLS, small_calls
