"""Change analysis: a table of route changes, each with the verdict AWS would give."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from teal.plan.analysis import Verdict, analyze, build_plan
from teal.project.config import FunctionSettings
from teal.template import Synthesized, synthesize
from test_template_support import (
    CODE_KEY,
    big_table,
    deployed,
    make_target,
    synth,
    table_of,
)

SIBLING = "sibling-variable"
DUPLICATE = "duplicate-path-part"
SIBLING_MESSAGE = (
    "A sibling ({id}) of this resource already has a variable path part -- only one is allowed"
)


@dataclass(frozen=True)
class Case:
    name: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    replace: bool
    rules: tuple[str, ...] = ()  # (rule, path) pairs as "rule path"


def case(name: str, old: list[str], new: list[str], *rules: str) -> Case:
    return Case(name, tuple(old), tuple(new), bool(rules), rules)


CASES = [
    case(
        "rename variable at the end",
        ["GET /posts/{id}"],
        ["GET /posts/{post_id}"],
        f"{SIBLING} /posts/{{post_id}}",
    ),
    case(
        "rename variable in the middle",
        ["GET /posts/{id}/comments"],
        ["GET /posts/{post_id}/comments"],
        f"{SIBLING} /posts/{{post_id}}",
    ),
    case(
        "rename variable used by several routes",
        ["GET /posts/{id}", "GET /posts/{id}/tags", "GET /posts/{id}/likes"],
        ["GET /posts/{pid}", "GET /posts/{pid}/tags", "GET /posts/{pid}/likes"],
        f"{SIBLING} /posts/{{pid}}",
    ),
    case("rename variable under the root", ["GET /{id}"], ["GET /{name}"], f"{SIBLING} /{{name}}"),
    case(
        "greedy to variable",
        ["GET /files/{path+}"],
        ["GET /files/{name}"],
        f"{SIBLING} /files/{{name}}",
    ),
    case(
        "variable to greedy",
        ["GET /files/{name}"],
        ["GET /files/{path+}"],
        f"{SIBLING} /files/{{path+}}",
    ),
    case("greedy renamed", ["ANY /{proxy+}"], ["ANY /{path+}"], f"{SIBLING} /{{path+}}"),
    case("variable case change", ["GET /p/{Id}"], ["GET /p/{id}"], f"{SIBLING} /p/{{id}}"),
    case(
        "two routes swap variable names at different levels",
        ["GET /a/{x}/b/{y}"],
        ["GET /a/{y}/b/{x}"],
        f"{SIBLING} /a/{{y}}",
    ),
    case(
        "two sibling trees swap variable names",
        ["GET /a/{x}", "GET /b/{y}"],
        ["GET /a/{y}", "GET /b/{x}"],
        f"{SIBLING} /a/{{y}}",
        f"{SIBLING} /b/{{x}}",
    ),
    case(
        "variable replaced by a new variable with a child",
        ["GET /p/{id}"],
        ["GET /p/{key}/x"],
        f"{SIBLING} /p/{{key}}",
    ),
    case(
        "add variable where a static sibling exists",
        ["GET /posts/latest"],
        ["GET /posts/latest", "GET /posts/{id}"],
    ),
    case("static to variable with no sibling variable", ["GET /posts/latest"], ["GET /posts/{id}"]),
    case("variable to static", ["GET /posts/{id}"], ["GET /posts/latest"]),
    case("add static sibling next to greedy", ["ANY /{proxy+}"], ["ANY /{proxy+}", "GET /static"]),
    case(
        "remove a subtree",
        ["GET /posts", "GET /posts/{id}", "GET /posts/{id}/comments"],
        ["GET /posts"],
    ),
    case(
        "move a subtree under a new static prefix",
        ["GET /posts/{id}", "GET /posts/{id}/c"],
        ["GET /v2/posts/{id}", "GET /v2/posts/{id}/c"],
    ),
    case("move a variable up a level past a removed static", ["GET /a/b/{id}"], ["GET /a/{id}"]),
    case("rename a static part", ["GET /posts"], ["GET /articles"]),
    case("static case change", ["GET /Posts"], ["GET /posts"]),
    case("rename variable and its parent together", ["GET /a/{id}"], ["GET /b/{key}"]),
    case("changed function for a route", ["GET /posts -> one"], ["GET /posts -> two"]),
    case("a verb added", ["GET /posts"], ["GET,POST /posts"]),
    case("a verb removed", ["GET,POST /posts"], ["GET /posts"]),
    case("ANY added beside GET", ["GET /posts"], ["GET,ANY /posts"]),
    case("a route added", ["GET /posts"], ["GET /posts", "GET /posts/{id}/comments"]),
    case("a route removed", ["GET /posts", "GET /tags"], ["GET /posts"]),
    case("root method added", ["GET /posts"], ["GET /posts", "GET /"]),
    case(
        "a child added under an existing variable",
        ["GET /p/{id}"],
        ["GET /p/{id}", "GET /p/{id}/x"],
    ),
    case("nothing changed", ["GET /posts/{id}"], ["GET /posts/{id}"]),
]


def verdict_for(old: list[str] | tuple[str, ...], new: list[str] | tuple[str, ...]) -> Verdict:
    before = synth(old)
    after = synth(new, previous=deployed(before))
    return analyze(
        before.template, before.nested_by_logical_id, after.template, after.nested_by_logical_id
    )


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_route_change(c: Case) -> None:
    verdict = verdict_for(c.old, c.new)
    assert verdict.replace is c.replace
    assert sorted(f"{r.rule} {r.path}" for r in verdict.reasons) == sorted(c.rules)


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_rename_reason_carries_aws_message_and_user_words() -> None:
    (reason,) = verdict_for(["GET /posts/{id}"], ["GET /posts/{post_id}"]).reasons
    assert reason.message == SIBLING_MESSAGE
    assert reason.explanation.startswith("renaming {id} to {post_id} under /posts needs a new API")


def test_unchanged_app_is_a_noop() -> None:
    verdict = verdict_for(["GET /posts/{id}"], ["GET /posts/{id}"])
    assert verdict.changes.action == "noop" and not verdict.changes.any


def test_nothing_deployed_is_a_create() -> None:
    new = synth(["GET /posts"])
    verdict = analyze(None, {}, new.template, new.nested_by_logical_id)
    assert (verdict.replace, verdict.changes.action) == (False, "create")
    assert len(verdict.changes.added) == len(new.template["Resources"])


def test_handler_change_updates_the_method_and_makes_a_new_deployment() -> None:
    changes = verdict_for(["GET /posts -> one"], ["GET /posts -> two"]).changes
    modified = {c.type for c in changes.modified}
    assert "AWS::ApiGateway::Method" in modified and "AWS::ApiGateway::Stage" in modified
    assert not any(c.type == "AWS::ApiGateway::Resource" for c in changes.replaced)
    assert {c.type for c in changes.added} >= {
        "AWS::ApiGateway::Deployment",
        "AWS::Lambda::Function",
    }


@pytest.mark.parametrize(
    "target_change",
    [
        {"memory": 1024},
        {"variables": {"A": "b"}},
        {"functions": {"api": FunctionSettings(timeout=60)}},
    ],
)
def test_function_settings_change_is_an_in_place_function_update(target_change: dict) -> None:
    table = table_of(["GET /posts/{id}"])
    before = synthesize(table, make_target(), CODE_KEY)
    after = synthesize(table, make_target(**target_change), CODE_KEY, previous=deployed(before))
    verdict = analyze(before.template, {}, after.template, {})
    assert not verdict.replace
    # the function changes in place; a new version is published and the alias moves to it
    assert sorted(c.type for c in verdict.changes.modified) == [
        "AWS::Lambda::Alias",
        "AWS::Lambda::Function",
    ]
    assert [c.type for c in verdict.changes.added] == ["AWS::Lambda::Version"]
    assert [c.type for c in verdict.changes.removed] == ["AWS::Lambda::Version"]
    assert verdict.changes.replaced == ()


def test_new_binary_media_types_update_the_api_in_place_with_a_new_deployment() -> None:
    table = table_of(["GET /posts/{id}"])
    before = synthesize(table, make_target(), CODE_KEY)
    target = make_target(binary_media_types=("*/*",))
    after = synthesize(table, target, CODE_KEY, previous=deployed(before))
    verdict = analyze(before.template, {}, after.template, {})
    assert not verdict.replace
    assert verdict.changes.replaced == ()
    modified = {c.type for c in verdict.changes.modified}
    assert modified == {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage"}
    assert [c.type for c in verdict.changes.added] == ["AWS::ApiGateway::Deployment"]


def test_new_code_updates_functions_only() -> None:
    table = table_of(["GET /posts/{id}"])
    before = synthesize(table, make_target(), CODE_KEY)
    after = synthesize(table, make_target(), "code/" + "1" * 64 + ".zip", previous=deployed(before))
    verdict = analyze(before.template, {}, after.template, {})
    assert sorted(c.type for c in verdict.changes.modified) == [
        "AWS::Lambda::Alias",
        "AWS::Lambda::Function",
    ]
    assert [c.type for c in verdict.changes.added] == ["AWS::Lambda::Version"]


def test_replacement_cascades_to_children_and_their_methods() -> None:
    """Renaming /a/{x} recreates /a/{x}/b and its method under the new parent: no conflict there."""
    verdict = verdict_for(["GET /a/{x}/b"], ["GET /a/{y}/b"])
    assert [r.path for r in verdict.reasons] == ["/a/{y}"]


def test_a_parent_replaced_by_the_schema_rules_cascades() -> None:
    """Hand-made: the same logical id with a new PathPart is replaced, and so is its child."""
    old = synth(["GET /a/b"]).template
    new = synth(["GET /a/b"]).template
    parent = next(
        k
        for k, v in new["Resources"].items()
        if v["Type"] == "AWS::ApiGateway::Resource" and v["Properties"]["PathPart"] == "a"
    )
    new["Resources"][parent]["Properties"]["PathPart"] = "c"
    verdict = analyze(old, {}, new, {})
    replaced = {c.logical_id for c in verdict.changes.replaced}
    assert parent in replaced
    assert sum(c.type == "AWS::ApiGateway::Resource" for c in verdict.changes.replaced) == 2
    assert sum(c.type == "AWS::ApiGateway::Method" for c in verdict.changes.replaced) == 1
    assert not verdict.replace  # /c is new beside /a: no rule broken


def test_a_recreated_path_part_conflicts_with_the_old_one() -> None:
    """A path whose logical id changes is created while the old one still exists."""
    old = synth(["GET /a"]).template
    new = synth(["GET /a"]).template
    resources = new["Resources"]
    (res_id,) = [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Resource"]
    resources["Renamed"] = resources.pop(res_id)
    for body in resources.values():
        if body["Type"] == "AWS::ApiGateway::Method":
            body["Properties"]["ResourceId"] = {"Ref": "Renamed"}
    (reason,) = analyze(old, {}, new, {}).reasons
    assert (reason.rule, reason.path) == (DUPLICATE, "/a")
    assert reason.message == "Another resource with the same parent already has this name: a"


def test_rotation_removes_every_conflict() -> None:
    old = synth(["GET /posts/{id}"])
    plan = build_plan(table_of(["GET /posts/{post_id}"]), make_target(), CODE_KEY, deployed(old))
    assert plan.replace and plan.chosen.rest_api_logical_id == "RestApi1"
    again = analyze(old.template, {}, plan.chosen.template, plan.chosen.nested_by_logical_id)
    assert not again.replace
    body = plan.to_json()
    assert body["action"] == "update"
    assert body["api"]["logical_id"] == "RestApi1" and body["api"]["replace"] is True
    assert body["api"]["reasons"][0]["rule"] == SIBLING
    assert {
        "logical_id": "RestApi1",
        "type": "AWS::ApiGateway::RestApi",
        "reason": "the API will be created",
    } in body["changes"]["added"]


def test_plan_without_deployed_stack_is_a_create() -> None:
    plan = build_plan(table_of(["GET /posts"]), make_target(), CODE_KEY, None)
    assert plan.to_json()["action"] == "create" and not plan.replace
    assert plan.chosen.rest_api_logical_id == "RestApi"


def test_plan_keeps_a_rotated_api_id() -> None:
    old = synth(["GET /posts"], rest_api_logical_id="RestApi4")
    plan = build_plan(table_of(["GET /posts", "GET /x"]), make_target(), CODE_KEY, deployed(old))
    assert not plan.replace and plan.chosen.rest_api_logical_id == "RestApi4"


# Large apps: nested stacks.


@pytest.fixture(scope="module")
def large() -> Synthesized:
    return synthesize(big_table(1200), make_target(), CODE_KEY)


def test_adding_a_route_to_a_large_app_is_safe(large: Synthesized) -> None:
    grown = synthesize(big_table(1260), make_target(), CODE_KEY, previous=deployed(large))
    verdict = analyze(
        large.template, large.nested_by_logical_id, grown.template, grown.nested_by_logical_id
    )
    assert not verdict.replace
    assert not [c for c in verdict.changes.removed if "Deployment" not in c.logical_id]
    assert not verdict.changes.replaced


def test_nested_stack_page_change_needs_a_new_api(large: Synthesized) -> None:
    """Without the stable assignment, routes that sort first shift every page: a move."""
    shifted = table_of(
        [f"GET /g{i % 9}/items{i}/{{id}}" for i in range(1200)]
        + [f"GET /a{i}/x/{{id}}" for i in range(300)]
    )
    moved = synthesize(shifted, make_target(), CODE_KEY)  # no previous: a fresh layout
    verdict = analyze(
        large.template, large.nested_by_logical_id, moved.template, moved.nested_by_logical_id
    )
    assert verdict.replace
    assert {r.rule for r in verdict.reasons} == {DUPLICATE}
    assert "moves to the nested stack ApiPage" in verdict.reasons[0].explanation
    stable = synthesize(shifted, make_target(), CODE_KEY, previous=deployed(large))
    verdict = analyze(
        large.template, large.nested_by_logical_id, stable.template, stable.nested_by_logical_id
    )
    assert not verdict.replace


def test_rename_inside_a_page_is_found_across_stacks(large: Synthesized) -> None:
    renamed = table_of(
        [
            f"GET,DELETE /g{i % 9}/items{i}/{{{'key' if i == 7 else 'id'}}} -> f{i % 40}"
            for i in range(1200)
        ]
    )
    new = synthesize(renamed, make_target(), CODE_KEY, previous=deployed(large))
    verdict = analyze(
        large.template, large.nested_by_logical_id, new.template, new.nested_by_logical_id
    )
    assert [(r.rule, r.path) for r in verdict.reasons] == [(SIBLING, "/g7/items7/{key}")]


def test_growing_from_one_template_to_pages_needs_a_new_api() -> None:
    small = synthesize(big_table(20), make_target(), CODE_KEY)
    assert not small.nested
    grown = synthesize(big_table(1000), make_target(), CODE_KEY, previous=deployed(small))
    assert grown.nested
    verdict = analyze(small.template, {}, grown.template, grown.nested_by_logical_id)
    assert verdict.replace and {r.rule for r in verdict.reasons} == {DUPLICATE}
