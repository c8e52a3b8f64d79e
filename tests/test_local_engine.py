"""The local stack engine: CloudFormation's create/update/rollback semantics on real SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime_here import RUNTIME
from teal.cloud.base import (
    CREATE_COMPLETE,
    ROLLBACK_COMPLETE,
    UPDATE_COMPLETE,
    UPDATE_ROLLBACK_COMPLETE,
    EventSink,
    NoUpdates,
    StackEvent,
    StackFailed,
    StackRequest,
    StackResult,
)
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.gateway.serving import StoreServingState
from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.stacks.intrinsics import TemplateError
from teal.cloud.local.stacks.ledger import StackStateError
from teal.cloud.local.stacks.nested import ChildStacks
from teal.runtime.errors import UserError
from test_local_engine_support import Events, blog_request, blog_template, nested_request

SIBLING = (
    "A sibling ({id}) of this resource already has a variable path part -- only one is allowed"
)
RENAMED = (("/posts", ("GET",)), ("/posts/{post_id}", ("GET", "DELETE")))
WITH_COMMENTS = (
    *RENAMED[:1],
    ("/posts/{id}", ("GET", "DELETE")),
    ("/posts/{id}/comments", ("GET",)),
)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


@pytest.fixture
def serving(cloud: LocalCloud) -> Iterator[StoreServingState]:
    state = StoreServingState(cloud.paths)
    yield state
    state.close()


def served_routes(
    serving: StoreServingState, api_id: str, stage: str = "dev"
) -> set[tuple[str, str]]:
    served = serving.stage(api_id, stage)
    assert served is not None
    return {(r.resource_path, r.http_method) for r in served.routes}


def api_ids(cloud: LocalCloud) -> set[str]:
    return {row[0] for row in cloud.store.read("SELECT id FROM rest_apis")}


def test_create_builds_every_resource_in_dependency_order(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    events = Events()
    result = cloud.apply_stack(blog_request(cloud), events)

    assert result.status == CREATE_COMPLETE
    api_id = result.outputs["ApiId"]
    assert len(api_id) == 10
    assert api_id.isalnum()
    assert api_id.islower() or api_id.isdigit()
    assert result.outputs["Endpoint"] == f"https://{api_id}.execute-api.us-east-1/"
    assert served_routes(serving, api_id) == {
        ("/posts", "GET"),
        ("/posts/{id}", "GET"),
        ("/posts/{id}", "DELETE"),
    }
    completed = [e.logical_id for e in events.seen if e.status == "CREATE_COMPLETE"]
    assert completed.index("Role") < completed.index("Handler")
    assert completed.index("ResPosts") < completed.index("ResPostsId")
    assert completed.index("Stage") == len(completed) - 2  # then the stack itself
    assert events.statuses("blog-dev") == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert [e.status for e in cloud.stack_events("blog-dev")] == [e.status for e in events.seen]


def test_an_event_reaches_the_caller_once_it_is_committed(cloud: LocalCloud) -> None:
    reader = sqlite3.connect(cloud.paths.database)  # sees committed changes only
    uncommitted: list[str] = []

    def on_event(event: StackEvent) -> None:
        stored = reader.execute(
            "SELECT 1 FROM events WHERE stack = ? AND logical_id = ? AND status = ?",
            (event.stack_name, event.logical_id, event.status),
        ).fetchone()
        if stored is None:
            uncommitted.append(f"{event.logical_id} {event.status}")

    cloud.apply_stack(blog_request(cloud), on_event)
    cloud.apply_stack(blog_request(cloud, routes=WITH_COMMENTS), on_event)
    reader.close()

    assert uncommitted == []


def test_function_spec_comes_from_the_template_and_its_permission(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    result = cloud.apply_stack(blog_request(cloud), Events())

    spec = serving.function_by_arn(result.outputs["FunctionArn"])
    assert spec is not None
    assert spec.name.startswith("blog-dev-Handler-")
    assert (spec.handler, spec.runtime, spec.memory_mb, spec.timeout_s) == (
        "handler.handler",
        RUNTIME,
        256,
        10,
    )
    assert spec.variables == {"STACK": "blog-dev"}
    assert cloud.has_artifact(spec.code_key)
    assert spec.code_key == f"code/{spec.code_sha256}.zip"
    api_id = result.outputs["ApiId"]
    assert spec.invoke_source_arns == (f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*",)


def test_same_template_again_is_refused(cloud: LocalCloud) -> None:
    cloud.apply_stack(blog_request(cloud), Events())
    with pytest.raises(NoUpdates, match=r"No updates are to be performed\."):
        cloud.apply_stack(blog_request(cloud), Events())


def test_adding_a_route_deploys_a_new_snapshot_and_cleans_up_the_old_one(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    api_id = first.outputs["ApiId"]
    old_deployment = serving.stage(api_id, "dev")
    events = Events()

    result = cloud.apply_stack(blog_request(cloud, routes=WITH_COMMENTS), events)

    assert result.status == UPDATE_COMPLETE
    assert result.outputs["ApiId"] == api_id
    assert ("/posts/{id}/comments", "GET") in served_routes(serving, api_id)
    assert events.statuses("blog-dev") == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_COMPLETE",
    ]
    assert old_deployment is not None
    deleted = [e for e in events.seen if e.status == "DELETE_COMPLETE"]
    assert [e.physical_id for e in deleted] == [old_deployment.deployment_id]
    stage_updated = [e for e in events.seen if e.logical_id == "Stage"]
    assert [e.status for e in stage_updated] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]


def test_renaming_a_variable_in_place_fails_and_the_old_routes_keep_serving(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    api_id = first.outputs["ApiId"]
    before = serving.stage(api_id, "dev")
    template_before = cloud.describe_stack("blog-dev")
    events = Events()

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(blog_request(cloud, routes=RENAMED), events)

    assert failed.value.status == UPDATE_ROLLBACK_COMPLETE
    first_failure = failed.value.failures[0]
    assert first_failure.logical_id == "ResPostsPostId"
    assert first_failure.status == "CREATE_FAILED"
    assert first_failure.reason is not None
    assert first_failure.reason.startswith(SIBLING)
    assert "Error Code: BadRequestException" in first_failure.reason
    assert events.statuses("blog-dev") == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert template_before is not None
    assert deployed.status == UPDATE_ROLLBACK_COMPLETE
    assert deployed.template == template_before.template
    assert deployed.outputs == template_before.outputs
    assert serving.stage(api_id, "dev") == before
    # The stack is usable again: a safe change goes through.
    assert cloud.apply_stack(blog_request(cloud, memory=512), Events()).status == UPDATE_COMPLETE


def test_new_restapi_logical_id_builds_a_new_api_before_deleting_the_old(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    old_api = first.outputs["ApiId"]
    events = Events()

    result = cloud.apply_stack(blog_request(cloud, routes=RENAMED, api="RestApi1"), events)

    new_api = result.outputs["ApiId"]
    assert new_api != old_api
    assert api_ids(cloud) == {new_api}
    assert serving.stage(old_api, "dev") is None
    assert ("/posts/{post_id}", "GET") in served_routes(serving, new_api)
    order = [(e.logical_id, e.status) for e in events.seen]
    assert (
        order.index(("RestApi1", "CREATE_COMPLETE"))
        < order.index(("blog-dev", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
        < order.index(("RestApi", "DELETE_COMPLETE"))
    )
    # The permission's SourceArn names the API, so it was replaced, and serves the new API.
    spec = serving.function_by_arn(result.outputs["FunctionArn"])
    assert spec is not None
    assert spec.invoke_source_arns == (f"arn:aws:execute-api:us-east-1:000000000000:{new_api}/*",)


def test_changing_a_create_only_property_replaces_the_resource(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    api_id = first.outputs["ApiId"]
    events = Events()

    cloud.apply_stack(blog_request(cloud, stage="v2"), events)

    assert (
        "Stage",
        "UPDATE_IN_PROGRESS",
        "Requested update requires the creation of a new physical resource; hence creating one.",
    ) in [(e.logical_id, e.status, e.reason) for e in events.seen]
    assert serving.stage(api_id, "dev") is None
    assert serving.stage(api_id, "v2") is not None


def test_an_in_place_update_keeps_the_physical_resource(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    generation = serving.generation()

    result = cloud.apply_stack(blog_request(cloud, memory=1024), Events())

    assert result.outputs["FunctionArn"] == first.outputs["FunctionArn"]
    spec = serving.function_by_arn(first.outputs["FunctionArn"])
    assert spec is not None
    assert spec.memory_mb == 1024
    assert serving.generation() > generation


def test_a_failed_update_restores_what_it_had_updated(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    first = cloud.apply_stack(blog_request(cloud), Events())
    request = blog_request(cloud, memory=1024)
    template: dict[str, Any] = json.loads(json.dumps(request.template))
    broken = json.loads(json.dumps(template["Resources"]["Handler"]))
    broken["Properties"]["Code"]["S3Key"] = "code/missing.zip"
    broken["DependsOn"] = "Stage"  # fails last, after Handler was updated
    template["Resources"]["Broken"] = broken
    events = Events()

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(
            StackRequest(request.name, template, request.parameters, request.tags), events
        )

    assert failed.value.status == UPDATE_ROLLBACK_COMPLETE
    assert "NoSuchKey" in (failed.value.failures[0].reason or "")
    spec = serving.function_by_arn(first.outputs["FunctionArn"])
    assert spec is not None
    assert spec.memory_mb == 256
    assert events.statuses("Handler") == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE",
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE",
    ]


def test_failed_create_rolls_back_and_blocks_the_name_until_deleted(cloud: LocalCloud) -> None:
    request = blog_request(cloud)
    bad = StackRequest(
        request.name, request.template, {**request.parameters, "CodeKey": "nope.zip"}
    )
    events = Events()

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(bad, events)

    assert failed.value.status == ROLLBACK_COMPLETE
    assert failed.value.failures[0].logical_id == "Handler"
    assert "The specified key does not exist" in (failed.value.failures[0].reason or "")
    cancelled = [e for e in events.seen if e.reason == "Resource creation cancelled"]
    assert cancelled  # the rest of Handler's wave
    assert events.statuses("blog-dev")[-2:] == ["ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    assert api_ids(cloud) == set()
    with pytest.raises(StackStateError, match=r"Stack \[blog-dev\] already exists"):
        cloud.apply_stack(request, Events())

    cloud.delete_stack("blog-dev", Events())

    assert cloud.describe_stack("blog-dev") is None
    assert cloud.apply_stack(request, Events()).status == CREATE_COMPLETE


def test_delete_removes_every_resource(cloud: LocalCloud, serving: StoreServingState) -> None:
    result = cloud.apply_stack(blog_request(cloud), Events())
    events = Events()

    cloud.delete_stack("blog-dev", events)

    assert cloud.describe_stack("blog-dev") is None
    assert api_ids(cloud) == set()
    assert serving.function_by_arn(result.outputs["FunctionArn"]) is None
    assert events.statuses("blog-dev") == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
    assert cloud.store.read("SELECT * FROM named") == []
    cloud.delete_stack("blog-dev", Events())  # deleting what is gone is fine, as on AWS


def test_nested_stack_is_applied_as_a_child_stack(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    result = cloud.apply_stack(nested_request(cloud), Events())

    api_id = result.outputs["ApiId"]
    assert ("/posts/{id}", "GET") in served_routes(serving, api_id)
    deployed = cloud.describe_stack("blog-dev")
    assert deployed is not None
    assert deployed.nested_templates["Api"] == blog_template()
    children = [s.name for s in cloud.engine.stacks() if s.parent == "blog-dev"]
    assert len(children) == 1
    assert children[0].startswith("blog-dev-Api-")
    assert [s.name for s in cloud.list_stacks({"teal:app": "blog"})] == ["blog-dev"]

    updated = cloud.apply_stack(nested_request(cloud, routes=WITH_COMMENTS), Events())
    assert updated.outputs["ApiId"] == api_id
    assert ("/posts/{id}/comments", "GET") in served_routes(serving, api_id)

    cloud.delete_stack("blog-dev", Events())
    assert cloud.engine.stacks() == []
    assert api_ids(cloud) == set()


class RecordingChildren:
    """The ChildStacks seam, recording each child operation before the engine runs it."""

    def __init__(self, engine: ChildStacks) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str, str | None, bool]] = []

    def apply(
        self,
        request: StackRequest,
        on_event: EventSink,
        *,
        parent: str | None = None,
        defer_cleanup: bool = False,
    ) -> StackResult:
        self.calls.append(("apply", request.name, parent, defer_cleanup))
        return self.engine.apply(request, on_event, parent=parent, defer_cleanup=defer_cleanup)

    def delete(self, name: str, on_event: EventSink) -> None:
        self.calls.append(("delete", name, None, False))
        self.engine.delete(name, on_event)


def test_nested_stacks_recurse_through_the_child_stacks_passed_down(cloud: LocalCloud) -> None:
    children = RecordingChildren(cloud.engine)
    cloud.engine.provisioner.children = children

    cloud.apply_stack(nested_request(cloud), Events())
    cloud.apply_stack(nested_request(cloud, routes=WITH_COMMENTS), Events())
    cloud.delete_stack("blog-dev", Events())

    [child] = {name for _, name, _, _ in children.calls}
    assert children.calls == [
        ("apply", child, "blog-dev", False),  # create
        ("apply", child, "blog-dev", True),  # update; its cleanup is the parent's
        ("delete", child, None, False),
    ]


def test_a_failing_nested_stack_fails_and_rolls_back_the_parent(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    result = cloud.apply_stack(nested_request(cloud), Events())
    api_id = result.outputs["ApiId"]
    before = serving.stage(api_id, "dev")

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(nested_request(cloud, routes=RENAMED), Events())

    assert failed.value.status == UPDATE_ROLLBACK_COMPLETE
    reason = failed.value.failures[0].reason or ""
    assert reason.startswith("Embedded stack arn:aws:cloudformation:us-east-1:000000000000:stack/")
    assert "was not successfully updated" in reason
    assert "[ResPostsPostId]" in reason
    assert any(SIBLING in (e.reason or "") for e in failed.value.failures)
    assert serving.stage(api_id, "dev") == before
    child = next(s for s in cloud.engine.stacks() if s.parent == "blog-dev")
    assert child.status == UPDATE_ROLLBACK_COMPLETE


def test_a_nested_stack_failing_at_create_leaves_no_child(cloud: LocalCloud) -> None:
    request = nested_request(cloud)
    bad = StackRequest(request.name, request.template, {**request.parameters, "CodeKey": "x.zip"})

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(bad, Events())

    assert failed.value.status == ROLLBACK_COMPLETE
    assert "was not successfully created" in (failed.value.failures[0].reason or "")
    assert [s.name for s in cloud.engine.stacks()] == ["blog-dev"]


def _with(template: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(template))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


UNSUPPORTED = {
    "resource type": (("Resources", "Thing"), {"Type": "AWS::Nope::Thing"}, "AWS::Nope::Thing"),
    "intrinsic": (
        ("Resources", "RestApi", "Properties", "Name"),
        {"Fn::If": ["c", "a", "b"]},
        "unsupported intrinsic function Fn::If",
    ),
    "import": (
        ("Resources", "RestApi", "Properties", "Name"),
        {"Fn::ImportValue": "x"},
        "Fn::ImportValue",
    ),
    "conditions": (("Conditions",), {"IsProd": {"Fn::Equals": ["a", "b"]}}, "Conditions"),
    "export": (
        ("Outputs", "ApiId", "Export"),
        {"Name": "x"},
        "Export",
    ),
    "unknown property": (("Resources", "RestApi", "Properties", "Body"), {}, "Body"),
    "dangling ref": (
        ("Resources", "RestApi", "Properties", "Name"),
        {"Ref": "Nowhere"},
        r"Unresolved resource dependencies \[Nowhere\]",
    ),
    "bad attribute": (
        ("Outputs", "ApiId", "Value"),
        {"Fn::GetAtt": ["RestApi", "Nope"]},
        "does not support attribute type Nope",
    ),
    "resource condition": (("Resources", "RestApi", "Condition"), "IsProd", "Condition"),
    "parameter type": (("Parameters", "CodeKey", "Type"), "Number", "String"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_template_features_are_refused_before_any_change(
    cloud: LocalCloud, case: str
) -> None:
    path, value, message = UNSUPPORTED[case]
    request = blog_request(cloud)
    template = _with(request.template, path, value)

    with pytest.raises(TemplateError, match=message):
        cloud.apply_stack(StackRequest(request.name, template, request.parameters), Events())

    assert cloud.describe_stack("blog-dev") is None


def test_a_dependency_cycle_is_a_template_error(cloud: LocalCloud) -> None:
    request = blog_request(cloud)
    template = _with(request.template, ("Resources", "Role", "DependsOn"), "Stage")

    with pytest.raises(TemplateError, match="Circular dependency"):
        cloud.apply_stack(StackRequest(request.name, template, request.parameters), Events())


def test_missing_and_unknown_parameters_are_refused(cloud: LocalCloud) -> None:
    request = blog_request(cloud)
    with pytest.raises(UserError, match=r"'CodeKey'\] must have values"):
        cloud.apply_stack(StackRequest(request.name, request.template, {}), Events())
    params = {**request.parameters, "Extra": "1"}
    with pytest.raises(UserError, match=r"\['Extra'\] do not exist"):
        cloud.apply_stack(StackRequest(request.name, request.template, params), Events())


def test_replacing_a_custom_named_resource_is_refused(cloud: LocalCloud) -> None:
    request = blog_request(cloud)
    named = _with(request.template, ("Resources", "Role", "Properties", "RoleName"), "blog-role")
    cloud.apply_stack(StackRequest(request.name, named, request.parameters), Events())
    moved = _with(named, ("Resources", "Role", "Properties", "Path"), "/teal/")

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(StackRequest(request.name, moved, request.parameters), Events())

    assert failed.value.failures[0].reason == (
        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
        "Rename blog-role and update the stack again."
    )


def test_a_function_name_lambda_would_refuse_fails_the_resource(cloud: LocalCloud) -> None:
    request = blog_request(cloud)
    long_name = _with(
        request.template, ("Resources", "Handler", "Properties", "FunctionName"), "f" * 65
    )

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(StackRequest(request.name, long_name, request.parameters), Events())

    assert "at 'functionName' failed to satisfy constraint" in (
        failed.value.failures[0].reason or ""
    )


def test_a_parent_failing_after_its_child_updated_rolls_the_child_back(
    cloud: LocalCloud, serving: StoreServingState
) -> None:
    api_id = cloud.apply_stack(nested_request(cloud), Events()).outputs["ApiId"]
    before = serving.stage(api_id, "dev")
    request = nested_request(cloud, routes=WITH_COMMENTS)
    broken = {
        "Type": "AWS::Logs::LogGroup",
        "DependsOn": "Api",
        "Properties": {"LogGroupName": {"Fn::Join": ["", [{"Fn::Select": [9, []]}]]}},
    }
    template = _with(request.template, ("Resources", "Broken"), broken)

    with pytest.raises(StackFailed) as failed:
        cloud.apply_stack(StackRequest(request.name, template, request.parameters), Events())

    assert failed.value.failures[0].logical_id == "Broken"
    child = next(s for s in cloud.engine.stacks() if s.parent == "blog-dev")
    assert child.status == UPDATE_ROLLBACK_COMPLETE
    assert child.template == blog_template()
    assert serving.stage(api_id, "dev") == before  # the very same deployment serves again
