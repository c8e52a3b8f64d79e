"""Route table: compiling, validation rules (with their messages), matching."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from teal import App
from teal.runtime.errors import RouteError
from teal.runtime.routes import (
    MATCHES_KEPT,
    MatchKind,
    PartKind,
    PathSyntaxError,
    PathTree,
    RouteTable,
    compile_path,
)


def handler(request: object) -> dict[str, str]:
    return {}


def table_errors(*routes: tuple[str, list[str]]) -> list[str]:
    app = App()
    for path, methods in routes:
        app.route(path, methods=methods)(handler)
    with pytest.raises(RouteError) as info:
        app.routes()
    return info.value.problems


def test_compile_path_kinds() -> None:
    parts = compile_path("/files/{owner}/{rest+}")
    assert [p.kind for p in parts] == [PartKind.STATIC, PartKind.VARIABLE, PartKind.GREEDY]
    assert [p.name for p in parts] == [None, "owner", "rest"]
    assert compile_path("/") == ()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("posts", "must start with '/'"),
        ("/posts//x", "empty path part"),
        ("/posts/", "empty path part"),
        ("/po sts", "invalid path part 'po sts'"),
        ("/posts/{id", "invalid path part '{id'"),
        ("/posts/x{id}", "a variable is a whole part"),
        ("/posts/{1id}", "a variable is a whole part"),
        ("/{rest+}/more", "greedy variable {rest+} must be the last part"),
        ("/a/{id}/b/{id}", "variable {id} appears more than once"),
        # clients resolve dot segments away (RFC 3986): no request could reach these
        ("/../x", "path part '..' can never be reached"),
        ("/posts/./x", "path part '.' can never be reached"),
        ("/posts/..", "path part '..' can never be reached"),
    ],
)
def test_path_syntax_errors(path: str, message: str) -> None:
    with pytest.raises(PathSyntaxError, match=None) as info:
        compile_path(path)
    assert message in str(info.value)
    problems = table_errors((path, ["GET"]))
    assert any(message in p and repr(path) in p for p in problems)


def test_duplicate_path_and_method_names_both_handlers() -> None:
    app = App()

    @app.route("/posts", methods=["GET"])
    def first(request: object) -> str:
        return ""

    @app.route("/posts", methods=["GET", "POST"])
    def second(request: object) -> str:
        return ""

    with pytest.raises(RouteError) as info:
        app.routes()
    (problem,) = info.value.problems
    assert "duplicate route GET /posts" in problem
    assert "first" in problem and "second" in problem


def test_two_variables_under_one_parent() -> None:
    problems = table_errors(("/posts/{id}", ["GET"]), ("/posts/{slug}/comments", ["GET"]))
    assert len(problems) == 1
    assert "{id} and {slug}, under /posts" in problems[0]
    assert "only one variable path part per parent" in problems[0]


def test_greedy_and_variable_siblings_conflict() -> None:
    problems = table_errors(("/files/{name}", ["GET"]), ("/files/{path+}", ["GET"]))
    assert "{name} and {path+}" in problems[0]


def test_same_variable_name_under_one_parent_is_fine() -> None:
    app = App()
    app.route("/posts/{id}")(handler)
    app.route("/posts/{id}/comments")(handler)
    app.route("/posts/new")(handler)
    assert len(app.routes().routes) == 3


def test_unknown_method_and_uncallable_handler() -> None:
    problems = table_errors(("/a", ["FETCH"]))
    assert "unknown HTTP method 'FETCH'" in problems[0]
    app = App()
    app.route("/a")("not a function")  # type: ignore[arg-type]
    with pytest.raises(RouteError) as info:
        app.routes()
    assert "is not callable" in info.value.problems[0]


def test_raw_and_plain_handlers_cannot_share_a_function() -> None:
    app = App()
    app.route("/a", function="shared")(handler)
    app.route("/b", function="shared", raw=True)(handler)
    with pytest.raises(RouteError) as info:
        app.routes()
    assert "mixes raw=True and raw=False" in info.value.problems[0]


def test_every_problem_is_reported_at_once() -> None:
    problems = table_errors(("nope", ["GET"]), ("/x", ["BREW"]), ("/y/{a}/{a}", ["GET"]))
    assert len(problems) == 3


def test_functions_default_to_one_per_handler_and_group_by_name() -> None:
    app = App()

    @app.route("/a")
    def alpha(request: object) -> str:
        return ""

    @app.route("/b", function="shared")
    def beta(request: object) -> str:
        return ""

    @app.route("/c", function="shared")
    def gamma(request: object) -> str:
        return ""

    functions = app.routes().functions
    assert sorted(functions) == ["alpha", "shared"]
    assert [r.path for r in functions["shared"]] == ["/b", "/c"]


@pytest.fixture
def matcher() -> App:
    app = App()
    for path, methods in [
        ("/", ["GET"]),
        ("/posts", ["GET", "POST"]),
        ("/posts/{id}", ["GET"]),
        ("/posts/new", ["GET"]),
        ("/posts/{id}/comments", ["ANY"]),
        ("/files/{path+}", ["GET"]),
        ("/Posts", ["GET"]),
    ]:
        app.route(path, methods=methods)(handler)
    return app


@pytest.mark.parametrize(
    ("path", "method", "kind", "resource", "params"),
    [
        ("/", "GET", MatchKind.FULL, "/", {}),
        ("/posts", "POST", MatchKind.FULL, "/posts", {}),
        ("/posts", "DELETE", MatchKind.PATH, "/posts", {}),
        ("/posts/7", "GET", MatchKind.FULL, "/posts/{id}", {"id": "7"}),
        ("/posts/new", "GET", MatchKind.FULL, "/posts/new", {}),
        ("/posts/7/comments", "PATCH", MatchKind.FULL, "/posts/{id}/comments", {"id": "7"}),
        ("/files/a/b/c.txt", "GET", MatchKind.FULL, "/files/{path+}", {"path": "a/b/c.txt"}),
        ("/Posts", "GET", MatchKind.FULL, "/Posts", {}),
        ("/nothing", "GET", MatchKind.NONE, None, {}),
        ("/posts/7/other", "GET", MatchKind.NONE, None, {}),
    ],
)
def test_matching_follows_api_gateway_precedence(
    matcher: App,
    path: str,
    method: str,
    kind: MatchKind,
    resource: str | None,
    params: dict[str, str],
) -> None:
    found = matcher.routes().tree.match(path, method)
    assert found.kind is kind
    assert (found.node.path if found.node and kind is not MatchKind.NONE else None) == resource
    assert dict(found.params) == params


def _tree_of(methods: list[tuple[str, str]]) -> App:
    app = App()
    for path, verb in methods:
        app.route(path, methods=[verb])(handler)
    return app


# two trees measured on real API Gateway (see docs/api-gateway.md, "Routing")
SIBLINGS = [
    ("/users/{userId}", "GET"),
    ("/users/me", "PATCH"),
    ("/roles/provision", "POST"),
    ("/roles/{roleId}", "GET"),
    ("/things/real", "GET"),
    ("/things/{proxy+}", "ANY"),
]
UNDER_A_GREEDY_ROOT = [
    ("/{proxy+}", "ANY"),
    ("/jobs/{operation_type}", "GET"),
    ("/cors_only", "OPTIONS"),
    ("/users", "GET"),
    ("/test", "POST"),
    ("/test/any", "ANY"),
]


@pytest.mark.parametrize(
    ("tree", "method", "path", "resource"),
    [
        (SIBLINGS, "GET", "/users/me", "/users/{userId}"),
        (SIBLINGS, "PATCH", "/users/me", "/users/me"),
        (SIBLINGS, "POST", "/users/me", None),
        (SIBLINGS, "POST", "/roles/provision", "/roles/provision"),
        (SIBLINGS, "GET", "/roles/provision", "/roles/{roleId}"),
        (SIBLINGS, "GET", "/things/real", "/things/real"),
        (SIBLINGS, "POST", "/things/real", "/things/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "GET", "/jobs/reboot", "/jobs/{operation_type}"),
        (UNDER_A_GREEDY_ROOT, "GET", "/jobs", "/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "POST", "/jobs/reboot", "/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "GET", "/cors_only", "/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "POST", "/users", "/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "OPTIONS", "/test", "/{proxy+}"),
        (UNDER_A_GREEDY_ROOT, "DELETE", "/test/any", "/test/any"),
    ],
)
def test_matching_resolves_the_path_and_the_method_together(
    tree: list[tuple[str, str]], method: str, path: str, resource: str | None
) -> None:
    found = _tree_of(tree).routes().tree.match(path, method)
    if resource is None:
        assert found.kind is MatchKind.PATH and found.target is None
    else:
        assert found.kind is MatchKind.FULL and found.node is not None
        assert found.node.path == resource


def test_a_warning_names_the_verbs_a_greedy_sibling_or_ancestor_takes() -> None:
    from teal.runtime.routes import routing_warnings

    warnings = routing_warnings(_tree_of(UNDER_A_GREEDY_ROOT).routes())
    starts = [w.split(":", 1)[0] for w in warnings]
    assert "POST|PUT|PATCH|DELETE /users reach /{proxy+}, not /users (GET only)" in starts
    assert "GET|PUT|PATCH|DELETE /test reach /{proxy+}, not /test (POST only)" in starts
    assert not any("/test/any reach" in w for w in warnings)  # ANY keeps every verb
    siblings = [w.split(":", 1)[0] for w in routing_warnings(_tree_of(SIBLINGS).routes())]
    assert "GET /users/me reach /users/{userId}, not /users/me (PATCH only)" in siblings
    assert routing_warnings(matcher_free_table()) == []


def matcher_free_table() -> RouteTable:
    """Routes that each keep their verbs: nothing to warn about."""
    return _tree_of([("/posts", "GET"), ("/posts/{id}", "GET"), ("/posts/new", "GET")]).routes()


def test_cli_routes_reports_bad_routes_with_exit_2(
    make_project: Callable[..., Path], teal_cli: Callable[..., object]
) -> None:
    root = make_project(
        """
        from teal import App
        app = App()

        @app.route("/posts/{id}")
        def show(request):
            return {}

        @app.route("/posts/{slug}/edit", methods=["PUT"])
        def edit(request):
            return {}
        """
    )
    result = teal_cli("routes", "--project", str(root))
    assert result.code == 2  # type: ignore[attr-defined]
    assert "{id} and {slug}" in result.err  # type: ignore[attr-defined]
    assert result.out == ""  # type: ignore[attr-defined]


def test_cli_routes_warns_where_a_catch_all_takes_a_verb_a_route_lacks(
    make_project: Callable[..., Path], teal_cli: Callable[..., object]
) -> None:
    root = make_project(
        """
        from teal import App
        app = App()

        @app.route("/users")
        def users(request):
            return []

        @app.route("/{proxy+}", methods=["ANY"])
        def everything_else(request):
            return {}
        """
    )
    result = teal_cli("routes", "--project", str(root), "--json")
    assert result.code == 0  # type: ignore[attr-defined]
    warnings = json.loads(result.out)["warnings"]  # type: ignore[attr-defined]
    assert [w.split(":")[0] for w in warnings] == [
        "POST|PUT|PATCH|DELETE /users reach /{proxy+}, not /users (GET only)"
    ]


def test_resources_past_api_gateways_quota_are_a_warning_not_an_error() -> None:
    from teal.runtime.routes import RESOURCES_QUOTA, quota_warnings

    def table(resources: int) -> RouteTable:
        app = App()
        for i in range(resources // 2):  # two resources a route: /gN and /gN/{id}
            app.route(f"/g{i}/{{id}}")(handler)
        return app.routes()

    assert quota_warnings(table(RESOURCES_QUOTA)) == []
    (warning,) = quota_warnings(table(RESOURCES_QUOTA + 2))
    assert warning.startswith(f"the API has {RESOURCES_QUOTA + 2} resources")
    assert "allows 300 per REST API unless the quota is raised" in warning


def test_a_remembered_match_gives_way_to_a_route_added_later() -> None:
    tree: PathTree[str] = PathTree()
    tree.add("/posts/{id}", "GET", "one post")
    assert tree.match("/posts/new", "GET").target == "one post"
    tree.add("/posts/new", "GET", "the form")  # a static part wins over a variable
    assert tree.match("/posts/new", "GET").target == "the form"
    assert tree.match("/posts/7", "GET").params == {"id": "7"}


def test_remembered_matches_stay_bounded_under_a_scan_of_random_paths() -> None:
    tree: PathTree[str] = PathTree()
    tree.add("/files/{path+}", "GET", "file")
    for number in range(3 * MATCHES_KEPT):
        assert tree.match(f"/files/{number}", "GET").params == {"path": str(number)}
    assert len(tree._matches) <= MATCHES_KEPT
