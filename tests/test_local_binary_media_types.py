"""The local RestApi's BinaryMediaTypes: stored by the provider, snapshotted by each
deployment, served from the stage's deployment, as API Gateway does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from teal.cloud.base import StackRequest
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.model import HostSettings
from teal.cloud.local.paths import LocalPaths
from test_local_engine_support import Events, blog_request


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


def with_types(
    request: StackRequest, types: list[str] | None, *, deployment_suffix: str = ""
) -> StackRequest:
    """The request with the RestApi's BinaryMediaTypes set (None: left out), and its
    Deployment renamed by ``deployment_suffix`` (a new snapshot)."""
    resources: dict[str, Any] = dict(request.template["Resources"])
    api = dict(resources["RestApi"])
    properties = {k: v for k, v in api["Properties"].items() if k != "BinaryMediaTypes"}
    if types is not None:
        properties["BinaryMediaTypes"] = types
    resources["RestApi"] = {**api, "Properties": properties}
    if deployment_suffix:
        (old,) = [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Deployment"]
        resources[old + deployment_suffix] = resources.pop(old)
        stage = resources["Stage"]
        stage_props = {**stage["Properties"], "DeploymentId": {"Ref": old + deployment_suffix}}
        resources["Stage"] = {**stage, "Properties": stage_props}
    return replace(request, template={**request.template, "Resources": resources})


def served_types(cloud: LocalCloud, api_id: str) -> tuple[str, ...]:
    state = StoreServingState(cloud.paths)
    try:
        served = state.stage(api_id, "dev")
        assert served is not None
        return served.binary_media_types
    finally:
        state.close()


def test_a_stage_serves_the_binary_media_types_its_deployment_snapshotted(
    cloud: LocalCloud,
) -> None:
    base = blog_request(cloud)
    first = cloud.apply_stack(with_types(base, ["image/png"]), Events())
    api_id = first.outputs["ApiId"]
    assert served_types(cloud, api_id) == ("image/png",)
    # the RestApi changes in place, but the stage keeps serving its deployment's list...
    cloud.apply_stack(with_types(base, ["*/*"]), Events())
    assert served_types(cloud, api_id) == ("image/png",)
    # ...until a new deployment snapshots the new one
    result = cloud.apply_stack(with_types(base, ["*/*"], deployment_suffix="B"), Events())
    assert result.outputs["ApiId"] == api_id
    assert served_types(cloud, api_id) == ("*/*",)


@pytest.mark.parametrize("cleared", [[], None], ids=["empty", "left-out"])
def test_an_update_that_clears_the_list_leaves_it_as_aws_does(
    cloud: LocalCloud, cleared: list[str] | None
) -> None:
    base = blog_request(cloud)
    api_id = cloud.apply_stack(with_types(base, ["image/png"]), Events()).outputs["ApiId"]
    cloud.apply_stack(with_types(base, cleared, deployment_suffix="B"), Events())
    assert served_types(cloud, api_id) == ("image/png",)


def test_a_function_carries_the_host_settings_of_the_deploy_that_made_it(tmp_path: Path) -> None:
    """The region, profile and Python a worker gets come from the deploy that wrote the
    function (its teal.toml), recorded with it: the zip carries no teal.toml to read."""
    host = HostSettings("eu-west-1", "work", None)
    local = LocalCloud(LocalPaths(tmp_path / "home"), host=host)
    try:
        outputs = local.apply_stack(blog_request(local), Events()).outputs
        state = StoreServingState(local.paths)
        try:
            spec = state.function_by_arn(outputs["FunctionArn"])
        finally:
            state.close()
    finally:
        local.close()
    assert spec is not None
    assert spec.host == host
