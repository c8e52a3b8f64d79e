"""Routing rules of custom domains, as the local cloud keeps and serves them: a domain's
routing mode, AWS's refusals, and the gateway evaluating rules (header condition,
base path, priority) before the base path mappings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from teal.cloud.base import RoutingRule
from teal.cloud.local.cloud import ApiGatewayRefused, LocalCloud
from teal.cloud.local.gateway import rest_apis
from teal.cloud.local.model import DomainRoute
from teal.cloud.local.paths import LocalPaths
from teal.ops.environments import (
    MappedApiRemoval,
    StackApis,
    is_preview_rule,
    preview_rule,
    refuse_removing_mapped_apis,
)
from teal.project.config import DomainSpec
from teal.rules.apigateway import MAPPINGS_ONLY, RULES_THEN_MAPPINGS, Rule, header_value_matches
from test_gateway import all_ok, fake_stage, gateway_for, handle, request, state  # noqa: F401
from test_gateway_support import FakeServingState

PAYLOAD = {"type": "AWS_PROXY", "uri": "u", "function_arn": "arn:f"}
DOMAIN = "api.example.com"


# ---------------------------------------------------------------- matching, pure


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("2", "2", True),
        ("2", "20", False),
        ("beta", "Beta", False),  # values are case-sensitive
        ("a*", "alpha", True),
        ("a*", "beta", False),
        ("*-beta", "v1-beta", True),
        ("*-beta", "v1-beta-2", False),
        ("*bet*", "alphabeta", True),
        ("*bet*", "alpha", False),
        ("*", "anything", True),
    ],
)
def test_a_header_value_glob_matches_as_api_gateway_documents(
    glob: str, value: str, matches: bool
) -> None:
    assert header_value_matches(glob, value) is matches


def test_teal_knows_its_preview_rule_by_the_header_and_the_base_path() -> None:
    root, v1 = DomainSpec(DOMAIN), DomainSpec(DOMAIN, "v1")
    ours = preview_rule(root, "green", "dev", "2", 100)
    assert ours.headers == (("teal-preview", "2"),) and ours.base_paths == ()
    assert is_preview_rule(ours, root) and not is_preview_rule(ours, v1)
    under_v1 = preview_rule(v1, "green", "dev", "2", 100)
    assert under_v1.base_paths == ("v1",) and under_v1.strip_base_path
    assert is_preview_rule(under_v1, v1)
    someone_elses = RoutingRule(5, "green", "dev", headers=(("x-version", "beta"),))
    assert not is_preview_rule(someone_elses, root)


# ---------------------------------------------------------------- the gateway


def previewed(state: FakeServingState, *rules: RoutingRule, base: str = "") -> None:  # noqa: F811
    fake_stage(state, "green", {"g": [("/posts", "GET"), ("/", "GET")]})
    state.put_domain(DomainRoute(DOMAIN, 4600, {base: ("blue", "dev")}, rules))


def test_a_request_with_the_header_goes_to_the_rule_and_the_rest_follow_the_mapping(
    state: FakeServingState,  # noqa: F811
) -> None:
    previewed(state, RoutingRule(100, "green", "dev", headers=(("teal-preview", "2"),)))
    gateway = gateway_for(state, all_ok())

    def body(*headers: tuple[str, str]) -> bytes:
        return handle(gateway, request("/posts", port=4600, headers=headers)).body

    assert body(("Teal-Preview", "2")) == b"g"  # the name in any case
    assert body() == b"list"
    assert body(("teal-preview", "3")) == b"list"
    assert body(("x-other", "2")) == b"list"
    by_host = request("/posts", host=DOMAIN, headers=(("teal-preview", "2"),))
    assert handle(gateway, by_host).body == b"g"


def test_rules_are_evaluated_by_priority_the_lowest_first(
    state: FakeServingState,  # noqa: F811
) -> None:
    fake_stage(state, "third", {"static": [("/posts", "GET")]})
    late = RoutingRule(200, "third", "dev", headers=(("teal-preview", "*"),))
    early = RoutingRule(100, "green", "dev", headers=(("teal-preview", "2"),))
    previewed(state, early, late)
    gateway = gateway_for(state, all_ok())
    with_two = request("/posts", port=4600, headers=(("teal-preview", "2"),))
    with_three = request("/posts", port=4600, headers=(("teal-preview", "3"),))
    assert handle(gateway, with_two).body == b"g"
    assert handle(gateway, with_three).body == b"static"


def test_a_base_path_condition_matches_its_paths_and_strips_like_the_mapping(
    state: FakeServingState,  # noqa: F811
) -> None:
    rule = preview_rule(DomainSpec(DOMAIN, "v1"), "green", "dev", "2", 100)
    previewed(state, rule, base="v1")
    invoker = all_ok()
    gateway = gateway_for(state, invoker)
    header = (("teal-preview", "2"),)
    assert handle(gateway, request("/v1/posts", port=4600, headers=header)).body == b"g"
    event = invoker.events[-1]
    assert (event["resource"], event["path"]) == ("/posts", "/v1/posts")
    assert handle(gateway, request("/v1/posts", port=4600)).body == b"list"
    outside = handle(gateway, request("/posts", port=4600, headers=header))
    assert outside.status == 403  # neither the rule's base path nor the mapping's


# ---------------------------------------------------------------- the local cloud's API


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    opened = LocalCloud(LocalPaths(tmp_path / "home"))
    with opened.store.transaction() as conn:
        rest_apis.create_domain(conn, DOMAIN, {}, iter([4600]))
        for api in ("blue", "green"):
            api_id, root = rest_apis.create_api(conn, api, "us-east-1")
            rest_apis.put_method(conn, api_id, root, "GET", PAYLOAD)
            deployment = rest_apis.create_deployment(conn, api_id)
            rest_apis.put_stage(conn, api_id, "dev", deployment, {}, create=True)
    yield opened
    opened.close()


def api_ids(cloud: LocalCloud) -> dict[str, str]:
    rows = cloud.store.read("SELECT name, id FROM rest_apis")
    return {row[0]: row[1] for row in rows}


def served_rules(cloud: LocalCloud) -> tuple[RoutingRule, ...]:
    with cloud.store.transaction() as conn:
        (domain,) = rest_apis.domain_routes(conn)
    return domain.rules


def test_a_domain_takes_rules_only_once_its_routing_mode_lets_them_route(
    cloud: LocalCloud,
) -> None:
    green = api_ids(cloud)["green"]
    rule = RoutingRule(100, green, "dev", headers=(("teal-preview", "2"),))
    with pytest.raises(ApiGatewayRefused) as refused:
        cloud.create_routing_rule(DOMAIN, rule)
    assert refused.value.error.rule is Rule.ROUTING_MODE
    assert cloud.list_routing_rules(DOMAIN) == []

    cloud.allow_routing_rules(DOMAIN)
    cloud.allow_routing_rules(DOMAIN)  # already allowed: nothing changes
    with cloud.store.transaction() as conn:
        assert rest_apis.routing_mode(conn, DOMAIN) == RULES_THEN_MAPPINGS
    created = cloud.create_routing_rule(DOMAIN, rule)
    assert created.id and created == RoutingRule(**{**rule.__dict__, "id": created.id})
    assert cloud.list_routing_rules(DOMAIN) == [created]
    assert served_rules(cloud) == (created,)
    assert cloud.rules_of_api(green) == [(DOMAIN, created)]

    cloud.delete_routing_rule(DOMAIN, created.id)
    cloud.delete_routing_rule(DOMAIN, created.id)  # gone already: fine
    assert cloud.list_routing_rules(DOMAIN) == [] and served_rules(cloud) == ()


def test_api_gateways_refusals_of_a_rule(cloud: LocalCloud) -> None:
    green = api_ids(cloud)["green"]
    cloud.allow_routing_rules(DOMAIN)
    cloud.create_routing_rule(DOMAIN, RoutingRule(100, green, "dev"))
    refusals = {
        Rule.DUPLICATE_PRIORITY: RoutingRule(100, green, "dev"),
        Rule.INVALID_PRIORITY: RoutingRule(0, green, "dev"),
        Rule.NOT_FOUND: RoutingRule(101, green, "prod"),
    }
    for rule, refused_rule in refusals.items():
        with pytest.raises(ApiGatewayRefused) as refused:
            cloud.create_routing_rule(DOMAIN, refused_rule)
        assert refused.value.error.rule is rule
    assert len(cloud.list_routing_rules(DOMAIN)) == 1


def test_rules_of_a_domain_that_routes_by_mappings_only_serve_nothing(cloud: LocalCloud) -> None:
    green = api_ids(cloud)["green"]
    cloud.allow_routing_rules(DOMAIN)
    cloud.create_routing_rule(DOMAIN, RoutingRule(100, green, "dev"))
    with cloud.store.transaction() as conn:
        rest_apis.set_routing_mode(conn, DOMAIN, MAPPINGS_ONLY)
    assert served_rules(cloud) == ()
    assert cloud.rules_of_api(green) == []  # the guard protects what serves
    assert len(cloud.list_routing_rules(DOMAIN)) == 1  # kept, as AWS keeps them


def test_a_version_5_state_migrates_its_domains_to_routing_by_mappings_only(
    tmp_path: Path,
) -> None:
    paths = LocalPaths(tmp_path / "home")
    LocalCloud(paths).close()
    conn = sqlite3.connect(paths.database, isolation_level=None)
    conn.execute("DROP TABLE routing_rules")
    conn.execute("ALTER TABLE domains DROP COLUMN routing_mode")
    conn.execute("ALTER TABLE domains DROP COLUMN settings")  # version 7's
    conn.execute("ALTER TABLE rest_apis DROP COLUMN region")  # version 8's
    conn.execute("DROP TABLE function_versions")  # version 9's
    conn.execute("DROP TABLE aliases")
    conn.execute("INSERT INTO domains (name, port, tags) VALUES (?, 4600, '{}')", (DOMAIN,))
    conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.close()
    migrated = LocalCloud(paths)
    with migrated.store.transaction() as conn2:
        assert rest_apis.routing_mode(conn2, DOMAIN) == MAPPINGS_ONLY
    assert migrated.list_routing_rules(DOMAIN) == []
    migrated.close()


def test_the_apply_guard_refuses_to_delete_an_api_a_preview_sends_to(cloud: LocalCloud) -> None:
    green = api_ids(cloud)["green"]
    template = {
        "Resources": {"RestApi": {}},
        "Outputs": {"RestApiId": {"Value": {"Ref": "RestApi"}}},
    }
    before = StackApis(template, {"RestApiId": green})
    refuse_removing_mapped_apis(cloud, "blog-dev-2", before, None)  # nothing routes to it yet
    cloud.allow_routing_rules(DOMAIN)
    cloud.create_routing_rule(DOMAIN, preview_rule(DomainSpec(DOMAIN), green, "dev", "2", 100))
    with pytest.raises(MappedApiRemoval, match=f"routing rule of {DOMAIN}") as refused:
        refuse_removing_mapped_apis(cloud, "blog-dev-2", before, None)
    assert refused.value.hint == "end the preview first: teal preview --off"
    refuse_removing_mapped_apis(cloud, "blog-dev-2", before, template)  # kept: fine
