"""Large apps: nested stacks ("pages"), their limits, and stable assignment."""

from __future__ import annotations

import os
from typing import Any

import pytest

from teal.template import Synthesized, synthesize
from teal.template.pages import (
    TEMPLATE_OUTPUT_LIMIT,
    TEMPLATE_PARAMETER_LIMIT,
    TEMPLATE_RESOURCE_LIMIT,
)
from test_template_support import CODE_KEY, big_table, deployed, lint_errors, make_target


@pytest.fixture(scope="module")
def large() -> Synthesized:
    return synthesize(big_table(1500), make_target(), CODE_KEY)


def api_paths(synthesized: Synthesized) -> dict[str, int]:
    return dict(synthesized.template["Metadata"]["teal"]["pages"])


def test_large_app_is_split_into_pages_under_every_limit(large: Synthesized) -> None:
    main = large.template
    assert len(main["Resources"]) <= TEMPLATE_RESOURCE_LIMIT
    assert len(main["Outputs"]) <= TEMPLATE_OUTPUT_LIMIT
    assert len(large.nested) == len(large.nested_by_logical_id) >= 2
    for template in large.nested.values():
        assert len(template["Resources"]) <= TEMPLATE_RESOURCE_LIMIT
        assert len(template["Parameters"]) <= TEMPLATE_PARAMETER_LIMIT
        assert len(template.get("Outputs", {})) <= TEMPLATE_OUTPUT_LIMIT
    methods = sum(
        r["Type"] == "AWS::ApiGateway::Method"
        for t in large.nested.values()
        for r in t["Resources"].values()
    )
    assert methods == 3000


def test_nested_stacks_point_at_their_artifact_keys(large: Synthesized) -> None:
    stacks = {
        k: v
        for k, v in large.template["Resources"].items()
        if v["Type"] == "AWS::CloudFormation::Stack"
    }
    assert set(stacks) == set(large.nested_by_logical_id)
    for logical_id, stack in stacks.items():
        url = stack["Properties"]["TemplateURL"]["Fn::Sub"]
        key = url.split(".amazonaws.com/", 1)[1]
        assert key.startswith("templates/") and key.endswith(".json")
        assert large.nested[key] is large.nested_by_logical_id[logical_id]
        assert set(stack["Properties"]["Parameters"]) == set(large.nested[key]["Parameters"])


def _busiest_page(synthesized: Synthesized) -> dict[str, Any]:
    """The page with the most cross-page links: the one most likely to be wrong."""
    return max(
        synthesized.nested.values(),
        key=lambda t: (len(t["Parameters"]) + len(t.get("Outputs", {})), len(t["Resources"])),
    )


# cfn-lint takes 40-80 ms per resource; linting all 6,000 API resources of the
# 1,500-route app takes minutes. Every page is written by the same code, so the
# suite lints the main templates and the busiest page; TEAL_FULL_LINT=1 lints all.
FULL_LINT = os.environ.get("TEAL_FULL_LINT") == "1"


def test_thousand_route_main_template_passes_cfn_lint() -> None:
    synthesized = synthesize(big_table(1000), make_target(), CODE_KEY)
    assert synthesized.nested
    assert lint_errors(synthesized.template) == []


def test_large_app_busiest_page_passes_cfn_lint(large: Synthesized) -> None:
    page = _busiest_page(large)
    assert "Outputs" in page or len(page["Parameters"]) > 3
    assert lint_errors(page) == []


@pytest.mark.skipif(not FULL_LINT, reason="minutes of cfn-lint; set TEAL_FULL_LINT=1")
@pytest.mark.parametrize("routes", [1000, 1500])
def test_every_template_of_large_apps_passes_cfn_lint(routes: int) -> None:
    synthesized = synthesize(big_table(routes), make_target(), CODE_KEY)
    for template in [synthesized.template, *synthesized.nested.values()]:
        assert lint_errors(template) == []


def test_adding_routes_never_moves_existing_paths(large: Synthesized) -> None:
    before = api_paths(large)
    grown = big_table(1500)  # same routes plus new ones spread over every group
    extra = big_table(1560)
    assert len(extra.routes) > len(grown.routes)
    after = synthesize(extra, make_target(), CODE_KEY, previous=deployed(large))
    moved = {p for p, page in api_paths(after).items() if p in before and before[p] != page}
    assert moved == set()
    assert len(api_paths(after)) > len(before)


def test_parents_never_sit_on_a_later_page_than_their_children(large: Synthesized) -> None:
    pages = api_paths(large)
    for path, page in pages.items():
        parent = path.rsplit("/", 1)[0] or "/"
        if parent in pages:
            assert pages[parent] <= page


def test_removing_every_path_of_a_page_drops_it_and_keeps_others(large: Synthesized) -> None:
    before = api_paths(large)
    shrunk = synthesize(big_table(300), make_target(), CODE_KEY, previous=deployed(large))
    after = api_paths(shrunk)
    assert all(before[p] == page for p, page in after.items())
    assert len(shrunk.nested) < len(large.nested)


def test_a_rotated_api_gets_a_fresh_layout(large: Synthesized) -> None:
    rotated = synthesize(big_table(1500), make_target(), CODE_KEY, "RestApi1", deployed(large))
    assert set(rotated.nested_by_logical_id) == {f"{k}G1" for k in large.nested_by_logical_id}
