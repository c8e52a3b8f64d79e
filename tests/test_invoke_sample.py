"""The request `teal invoke` makes its default event for: a sample of the function's
routes, or the path and method the user names, routed as API Gateway routes them."""

from __future__ import annotations

import pytest

from teal.ops.invoke import SampleRequest, sample_request
from teal.runtime.errors import UserError
from test_template_support import table_of

TABLE = table_of(
    [
        "GET /posts -> posts",
        "POST /posts -> posts",
        "GET,DELETE /posts/{id} -> posts",
        "GET /posts/{id}/comments -> comments",
        "ANY /files/{proxy+} -> files",
        "GET /health -> health",
    ]
)


def test_without_a_path_the_sample_is_the_functions_plainest_get() -> None:
    assert sample_request(TABLE, "posts") == SampleRequest("GET", "/posts", "/posts", {})


def test_a_method_picks_the_functions_route_that_takes_it() -> None:
    assert sample_request(TABLE, "posts", method="delete") == SampleRequest(
        "DELETE", "/posts/{id}", "/posts/1", {"id": "1"}
    )
    assert sample_request(TABLE, "files", method="PUT").method == "PUT"  # ANY takes it


def test_a_path_is_routed_with_its_parameters_and_query() -> None:
    assert sample_request(TABLE, "posts", path="/posts/42?draft=1") == SampleRequest(
        "GET", "/posts/{id}", "/posts/42", {"id": "42"}, "draft=1"
    )
    assert sample_request(TABLE, "files", path="/files/a/b.txt", method="POST") == (
        SampleRequest("POST", "/files/{proxy+}", "/files/a/b.txt", {"proxy": "a/b.txt"})
    )


def refusal(**given: str) -> UserError:
    function = given.pop("function", "posts")
    with pytest.raises(UserError) as caught:
        sample_request(TABLE, function, **given)
    return caught.value


def test_a_path_another_function_serves_names_the_command_that_would_reach_it() -> None:
    error = refusal(path="/posts/7/comments")
    assert str(error) == "GET /posts/7/comments is served by function 'comments', not 'posts'"
    assert (error.where, error.hint) == ("--path", "teal invoke comments --path /posts/7/comments")


def test_a_path_without_the_method_lists_the_methods_it_has() -> None:
    error = refusal(path="/posts/7", method="PUT")
    assert (error.where, error.hint) == ("--method", "its methods: DELETE, GET")


@pytest.mark.parametrize(
    ("given", "where", "said"),
    [
        ({"path": "/nothing"}, "--path", "no route of the app matches /nothing"),
        ({"path": "posts"}, "--path", "'posts' is not a path"),
        ({"path": "http://x/posts"}, "--path", "is not a path"),
        ({"method": "ANY"}, "--method", "'ANY' is not a request method"),
        ({"method": "PATCH"}, "--method", "function 'posts' has no PATCH route"),
        ({"function": "nope"}, "nope", "the app has no function 'nope'"),
    ],
)
def test_what_no_request_could_be_is_bad_input(
    given: dict[str, str], where: str, said: str
) -> None:
    error = refusal(**given)
    assert said in str(error)
    assert error.where == where and error.hint
