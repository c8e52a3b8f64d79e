"""The runtime shim on real API Gateway proxy events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from proxy_event_samples import proxy_event
from teal import App, Request, Response
from teal.runtime.entry import build_dispatch, handler_name, invoke


@pytest.fixture
def app() -> App:
    app = App()

    @app.route("/posts/{id}", methods=["GET", "DELETE"])
    def show(request: Request) -> Any:
        return {
            "id": request.path_params["id"],
            "method": request.method,
            "tag": request.query.get("tag"),
            "tags": request.query_all.get("tag"),
            "agent": request.headers.get("user-agent"),
            "cookies": request.event["multiValueHeaders"].get("Cookie"),
        }

    @app.route("/posts", methods=["POST"])
    def create(request: Request) -> Response:
        return Response({"created": request.json()}, status=201, headers={"X-Id": "9"})

    @app.route("/text")
    def text(request: Request) -> str:
        return "hello"

    @app.route("/bytes", methods=["PUT"])
    def echo_bytes(request: Request) -> bytes:
        return request.body[::-1]

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("secret detail")

    @app.route("/raw/{x+}", raw=True)
    def raw(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 418, "body": event["pathParameters"]["x"]}

    return app


def call(app: App, event: dict[str, Any]) -> dict[str, Any]:
    return invoke(build_dispatch(app, None), event, context=None)


def test_path_params_query_and_headers(app: App) -> None:
    event = proxy_event(
        "/posts/{id}",
        "/posts/42",
        path_params={"id": "42"},
        query=[("tag", "a"), ("tag", "b")],
        headers=[("User-Agent", "curl/8"), ("Cookie", "x=1"), ("Cookie", "y=2")],
    )
    response = call(app, event)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {
        "id": "42",
        "method": "GET",
        "tag": "b",
        "tags": ["a", "b"],
        "agent": "curl/8",
        "cookies": ["x=1", "y=2"],
    }
    assert response["isBase64Encoded"] is False


def test_json_body_status_and_headers(app: App) -> None:
    event = proxy_event("/posts", "/posts", "POST", body=json.dumps({"title": "t"}))
    response = call(app, event)
    assert response["statusCode"] == 201
    assert response["headers"]["X-Id"] == "9"
    assert json.loads(response["body"]) == {"created": {"title": "t"}}


def test_base64_body_in_and_binary_out(app: App) -> None:
    event = proxy_event("/bytes", "/bytes", "PUT", body=b"\x00\x01\xff", binary=True)
    response = call(app, event)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\xff\x01\x00"
    assert response["headers"]["Content-Type"] == "application/octet-stream"


def test_text_response(app: App) -> None:
    response = call(app, proxy_event("/text", "/text"))
    assert response["body"] == "hello"
    assert response["headers"]["Content-Type"].startswith("text/plain")


def test_handler_error_is_500_and_traceback_goes_to_stderr(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    response = call(app, proxy_event("/boom", "/boom"))
    assert response["statusCode"] == 500
    assert "secret detail" not in response["body"]
    assert json.loads(response["body"]) == {"message": "Internal server error"}
    assert "RuntimeError: secret detail" in capsys.readouterr().err


def test_raw_handler_gets_event_and_context(app: App) -> None:
    event = proxy_event("/raw/{x+}", "/raw/a/b", path_params={"x": "a/b"})
    assert call(app, event) == {"statusCode": 418, "body": "a/b"}


def test_dispatch_limited_to_one_function(app: App) -> None:
    dispatch = build_dispatch(app, "text")
    assert set(dispatch) == {("/text", "GET")}
    response = invoke(dispatch, proxy_event("/boom", "/boom"), None)
    assert response["statusCode"] == 404


def test_absent_maps_are_null_and_request_copes() -> None:
    event = proxy_event("/text", "/text")
    assert event["queryStringParameters"] is None and event["pathParameters"] is None
    request = Request.from_event(event)
    assert request.query == {} and request.path_params == {} and request.body == b""
    assert request.json() is None


def test_a_raw_handler_that_raises_fails_the_invocation() -> None:
    app = App()

    @app.route("/raw", raw=True)
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ValueError("no luck")

    # the exception leaves the function, so Lambda reports an unhandled error and
    # API Gateway answers 502, as for any plain Lambda function
    with pytest.raises(ValueError, match="no luck"):
        call(app, proxy_event("/raw", "/raw"))


@pytest.mark.parametrize(
    ("returned", "said"),
    [
        (None, "returned None"),
        (({"id": 1}, 201), "returned a tuple; teal does not read (body, status) tuples"),
        ({"when": {1, 2}}, "returned a body JSON cannot encode"),
        (Response(object()), "returned a body JSON cannot encode"),
    ],
    ids=["none", "tuple", "set", "object"],
)
def test_a_result_no_response_can_carry_is_a_500_naming_the_handler(
    returned: Any, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App()

    @app.route("/odd")
    def odd(request: Request) -> Any:
        return returned

    response = call(app, proxy_event("/odd", "/odd"))
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "Internal server error"}
    log = capsys.readouterr().err
    assert f"HandlerResultError: handler {__name__}.{odd.__qualname__} {said}" in log


def test_an_empty_response_is_still_a_choice(app: App) -> None:
    app.route("/gone", methods=["DELETE"])(lambda request: Response(None, status=204))
    response = call(app, proxy_event("/gone", "/gone", "DELETE"))
    assert (response["statusCode"], response["body"]) == (204, "")


class _UnhashableView:
    """A view that is a callable object no dict can hold as a key."""

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, request: Request) -> Any:
        return None  # no response: the 500's log names the view


def test_a_view_that_cannot_be_a_dict_key_is_named_as_any_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, view = App(), _UnhashableView()
    app.route("/odd", function="odd")(view)
    for _ in range(2):  # the second time, where a name worked out before would be reused
        response = call(app, proxy_event("/odd", "/odd"))
        assert response["statusCode"] == 500
    log = capsys.readouterr().err
    assert log.count(f"{handler_name(view)} returned None") == 2
