"""Paths as deep as API Gateway allows: refused past the limit, and at the limit
carried through the route table, synthesis, analysis and API Gateway's model
without recursion (Python's stack holds about a thousand frames)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e import LocalCloudEnv, Run, get
from teal.plan.analysis import build_plan
from teal.rules.apigateway import ApiModel
from teal.runtime.errors import RouteError
from teal.runtime.routes import URL_LENGTH_LIMIT, MatchKind, PathTree
from teal.template import Synthesized
from test_template_support import CODE_KEY, Deployed, make_target, table_of

# The deepest path API Gateway can serve: one-letter parts filling the URL limit.
DEPTH = URL_LENGTH_LIMIT // 2
DEEPEST = "/a" * DEPTH


@pytest.fixture(autouse=True)
def _small_stack() -> None:
    """Every test here must pass on a stack far shallower than the paths."""
    assert 5 * sys.getrecursionlimit() < DEPTH


def test_a_path_at_the_limit_is_accepted_and_one_character_more_is_not() -> None:
    assert len(DEEPEST) == URL_LENGTH_LIMIT
    assert table_of([f"GET {DEEPEST} -> deep"]).routes[0].path == DEEPEST
    with pytest.raises(RouteError) as info:
        table_of([f"GET {DEEPEST}b -> deep"])
    (problem,) = info.value.problems
    assert "shortest request path has 10241 characters" in problem
    assert "at most 10240" in problem
    assert len(problem) < 400  # the path itself is abbreviated in the message


def test_variables_count_as_one_character_of_the_request() -> None:
    path = "/a" * (DEPTH - 1) + "/{a_rather_long_variable_name}"
    assert table_of([f"GET {path} -> deep"]).routes[0].path == path


def test_the_tree_walks_and_matches_the_deepest_path() -> None:
    tree: PathTree[str] = PathTree()
    tree.add(DEEPEST, "GET", "deep")
    tree.add("/a/{rest+}", "GET", "greedy")
    paths = [n.path for n in tree.nodes()]
    assert len(paths) == DEPTH + 2  # the root, each /a..., and the greedy resource
    assert paths[-2:] == [DEEPEST, "/a/{rest+}"]  # parents first, in sorted order
    found = tree.match(DEEPEST, "GET")
    assert (found.kind, found.target) == (MatchKind.FULL, "deep")
    almost = tree.match("/a" * (DEPTH - 1) + "/b", "GET")
    assert (almost.target, almost.params["rest"]) == ("greedy", "a/" * (DEPTH - 3) + "a/b")


def test_api_gateway_model_deletes_a_deep_branch() -> None:
    model: ApiModel[str] = ApiModel()
    parent = model.root_id
    for _ in range(DEPTH):
        parent = model.create_resource(parent, "a")
    assert model.path_of(parent) == DEEPEST
    top = model.resources[model.root_id].children["a"]
    model.delete_resource(top)
    assert list(model.resources) == [model.root_id]
    assert model.resources[model.root_id].children == {}


def stored(synthesized: Synthesized) -> Deployed:
    """Templates read back as a cloud may keep them: keys sorted, so a resource can come
    before its parent (and the analysis cannot count on meeting parents first)."""
    nested = synthesized.nested_by_logical_id
    return Deployed(
        json.loads(json.dumps(synthesized.template, sort_keys=True)),
        {k: json.loads(json.dumps(v, sort_keys=True)) for k, v in sorted(nested.items())},
    )


def test_synthesis_and_analysis_at_the_limit() -> None:
    target = make_target()
    first = build_plan(table_of([f"GET {DEEPEST} -> deep"]), target, CODE_KEY, None)
    assert first.action == "create"
    assert len(first.chosen.nested) > 1  # the resources span several nested stacks

    grown = table_of([f"GET {DEEPEST} -> deep", f"GET {DEEPEST[:-2]}/{{id}} -> deep"])
    update = build_plan(grown, target, CODE_KEY, stored(first.chosen))
    assert (update.action, update.replace) == ("update", False)

    renamed = table_of([f"GET {DEEPEST[:-2]}/{{key}} -> deep"])
    rename = build_plan(renamed, target, CODE_KEY, stored(update.chosen))
    assert rename.replace is True
    (reason,) = rename.verdict.reasons
    assert reason.rule == "sibling-variable" and reason.path == DEEPEST[:-2] + "/{key}"


def test_a_thousand_part_route_deploys_and_serves(local_cloud: LocalCloudEnv) -> None:
    """The route that used to end `teal deploy` in a RecursionError."""
    path = "/a" * 1000
    (local_cloud.project / "app.py").write_text(
        "from teal import App\napp = App()\n\n"
        f'@app.route("{path}")\ndef deep(request):\n    return "deep"\n'
    )
    listed = local_cloud.teal_ok("routes", "--json").json()
    assert [r["path"] for r in listed["routes"]] == [path]
    assert "the API has 1000 resources" in listed["warnings"][0]
    result = local_cloud.teal_ok("deploy", "--json")
    assert "warning: the API has 1000 resources" in result.err
    assert get(result.json()["endpoint"] + path[1:]) == (200, "deep")


def test_a_route_past_the_limit_is_bad_input(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project(
        f'from teal import App\napp = App()\n\n@app.route("{DEEPEST}x")\n'
        "def deep(request):\n    return 'deep'\n"
    )
    result = teal_cli("routes", "--json", "--project", str(root))
    assert result.code == 2
    error = result.json()["error"]
    assert error["kind"] == "bad-input" and "too long for API Gateway" in error["what"]
