"""Every change of a plan says why: what the resource is in the app, and what happens
to it (:mod:`teal.plan.reasons`), whatever made the templates differ."""

from __future__ import annotations

import copy

from teal.plan.analysis import ResourceChanges, analyze
from teal.template import synthesize
from test_template_support import CODE_KEY, deployed, make_target, synth, table_of


def reasons_of(changes: ResourceChanges) -> dict[str, str]:
    return {
        c.logical_id: c.reason
        for kind in (changes.added, changes.modified, changes.replaced, changes.removed)
        for c in kind
    }


def test_a_route_renamed_names_its_path_and_verb() -> None:
    old, new = synth(["GET /posts/{id}"]), synth(["GET /posts/{id}", "POST /posts/{id}/likes"])
    verdict = analyze(old.template, {}, new.template, {})
    said = set(reasons_of(verdict.changes).values())
    assert "the API's path /posts/{id}/likes will be created" in said
    assert "the route POST /posts/{id}/likes will be created" in said
    assert "the preflight of /posts/{id}/likes will be created" not in said  # no CORS here
    assert all(reason for reason in reasons_of(verdict.changes).values())


def test_a_function_setting_names_the_function_and_the_values() -> None:
    table = table_of(["GET /posts/{id}"])
    before = synthesize(table, make_target(), CODE_KEY)
    target = make_target(memory=1024, variables={"MODE": "fast"})
    after = synthesize(table, target, CODE_KEY, previous=deployed(before))
    modified = analyze(before.template, {}, after.template, {}).changes.modified
    (change,) = [c for c in modified if c.type == "AWS::Lambda::Function"]
    assert change.reason.startswith("function api changes in place: ")
    assert "its memory 256 -> 1024" in change.reason
    assert "new variables MODE" in change.reason


def test_a_replacement_names_the_property_that_cannot_change_in_place() -> None:
    old = synth(["GET /a/b"]).template
    new = copy.deepcopy(old)
    parent = next(
        k
        for k, v in new["Resources"].items()
        if v["Type"] == "AWS::ApiGateway::Resource" and v["Properties"]["PathPart"] == "a"
    )
    new["Resources"][parent]["Properties"]["PathPart"] = "c"
    said = reasons_of(analyze(old, {}, new, {}).changes)
    assert said[parent] == (
        "the API's path /c will be replaced (a new one, then the old one deleted): "
        "PathPart cannot change in place"
    )
    child = [i for i, r in said.items() if i != parent and "/c/b" in r and "path" in r]
    assert child and "belongs to " + parent in said[child[0]]


def test_a_removed_route_and_a_type_no_rule_knows() -> None:
    old = synth(["GET /posts", "GET /tags"]).template
    new = synth(["GET /posts"]).template
    function = next(k for k, v in new["Resources"].items() if v["Type"] == "AWS::Lambda::Function")
    new["Resources"]["Bucket"] = {
        "Type": "AWS::Lambda::Url",
        "Properties": {"TargetFunctionArn": {"Fn::GetAtt": [function, "Arn"]}},
    }
    said = reasons_of(analyze(old, {}, new, {}).changes)
    assert "the route GET /tags will be deleted" in said.values()
    assert said["Bucket"] == "Bucket (AWS::Lambda::Url) of function api will be created"


def test_a_first_deploy_says_what_each_resource_is() -> None:
    new = synth(["GET /posts"])
    verdict = analyze(None, {}, new.template, new.nested_by_logical_id)
    said = reasons_of(verdict.changes)
    assert said["RestApi"] == "the API will be created"
    assert all(r.endswith(" will be created") and "?" not in r for r in said.values())
