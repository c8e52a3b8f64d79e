"""The engine applies the templates teal.template synthesizes, nested pages included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from teal.cloud.base import (
    CREATE_COMPLETE,
    UPDATE_COMPLETE,
    UPDATE_ROLLBACK_COMPLETE,
    DeployedStack,
    StackFailed,
    StackRequest,
)
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.project.config import load_project, resolve_target
from teal.project.loader import load_routes
from teal.project.package import build_package
from teal.template.combine import template_bytes
from teal.template.synth import ARTIFACT_BUCKET, Synthesized, synthesize
from test_local_engine_support import Events

BLOG = """\
from teal import App

app = App()

@app.route("/posts", methods=["GET"], function="posts")
def list_posts(request):
    return {"posts": []}

@app.route("/posts/{%s}", methods=["GET", "DELETE"], function="posts")
def show_post(request):
    return {}
"""
SIBLING = "A sibling ({id}) of this resource already has a variable path part"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


def synthesized(
    cloud: LocalCloud, project: Path, api: str = "RestApi", previous: DeployedStack | None = None
) -> tuple[StackRequest, Synthesized]:
    target = resolve_target(load_project(project), environ={})
    table = load_routes(project, target.entry, target.runtime)
    package = build_package(project)
    result = synthesize(table, target, package.key, api, previous=previous)
    cloud.put_artifact(package.key, package.data)
    for key, nested in result.nested.items():
        cloud.put_artifact(key, template_bytes(nested))
    request = StackRequest(
        target.environment,
        result.template,
        {ARTIFACT_BUCKET: cloud.artifact_bucket},
        target.tags(),
    )
    return request, result


def served(cloud: LocalCloud, api_id: str) -> set[tuple[str, str]]:
    state = StoreServingState(cloud.paths)
    stage = state.stage(api_id, "dev")
    state.close()
    assert stage is not None
    return {(r.resource_path, r.http_method) for r in stage.routes}


def test_a_synthesized_template_rename_fails_in_place_and_succeeds_as_a_replacement(
    cloud: LocalCloud, make_project: Callable[..., Path]
) -> None:
    project = make_project(BLOG % "id")
    request, _ = synthesized(cloud, project)
    created = cloud.apply_stack(request, Events())
    assert created.status == CREATE_COMPLETE
    api_id = created.outputs["RestApiId"]
    assert ("/posts/{id}", "DELETE") in served(cloud, api_id)

    make_project(BLOG % "post_id")
    deployed = cloud.describe_stack(request.name)
    in_place, _ = synthesized(cloud, project, previous=deployed)
    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(in_place, Events())
    assert failed.value.status == UPDATE_ROLLBACK_COMPLETE
    assert SIBLING in (failed.value.failures[0].reason or "")
    assert ("/posts/{id}", "GET") in served(cloud, api_id)

    replacement, _ = synthesized(cloud, project, api="RestApi1", previous=deployed)
    result = cloud.apply_stack(replacement, Events())
    assert result.status == UPDATE_COMPLETE
    assert result.outputs["RestApiId"] != api_id
    assert ("/posts/{post_id}", "GET") in served(cloud, result.outputs["RestApiId"])


MANY = """\
from teal import App

app = App()

def handler(request):
    return {}

for number in range(%d):
    app.route(f"/items{number}/{{id}}", methods=["GET"], function="items")(handler)
"""


def test_a_large_app_is_applied_through_nested_page_stacks(
    cloud: LocalCloud, make_project: Callable[..., Path]
) -> None:
    project = make_project(MANY % 160)
    request, result = synthesized(cloud, project)
    assert result.nested, "the app should be large enough to need nested stacks"

    created = cloud.apply_stack(request, Events())

    routes = served(cloud, created.outputs["RestApiId"])
    assert len(routes) == 160
    assert ("/items159/{id}", "GET") in routes
    deployed = cloud.describe_stack(request.name)
    assert deployed is not None
    assert set(deployed.nested_templates) == set(result.nested_by_logical_id)
    children = [s for s in cloud.engine.stacks() if s.parent == request.name]
    assert len(children) == len(result.nested_by_logical_id)
    assert all(child.status == CREATE_COMPLETE for child in children)
