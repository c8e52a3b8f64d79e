"""Proxy events (format 1.0) and proxy responses, checked against AWS's shapes."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from teal.rules.proxy_events import (
    IncomingRequest,
    MalformedProxyResponse,
    RequestSource,
    UndecodableProxyBody,
    build_proxy_event,
    first_accepted,
    is_binary,
    media_type,
    parse_proxy_response,
)

SOURCE = RequestSource(
    api_id="abc123",
    stage="dev",
    resource_path="/posts/{id}",
    path="/posts/7",
    context_path="/dev/posts/7",
    domain_name="127.0.0.1:4510",
    path_parameters={"id": "7"},
)
NOW = 1_764_148_533.25


def build(request: IncomingRequest, source: RequestSource = SOURCE) -> dict[str, Any]:
    return build_proxy_event(request, source, request_id="r-1", now=NOW)


def test_event_has_every_field_and_validates_against_powertools() -> None:
    request = IncomingRequest(
        "POST",
        "a=1&a=2&b=x%20y",
        (
            ("Host", "127.0.0.1:4510"),
            ("User-Agent", "curl/8"),
            ("X-Many", "1"),
            ("X-Many", "2"),
            ("Content-Type", "application/json"),
        ),
        b'{"k": 1}',
    )
    event = build(request)
    APIGatewayProxyEventModel.model_validate(event)
    assert event["resource"] == "/posts/{id}"
    assert event["path"] == "/posts/7"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Many"] == "2"
    assert event["multiValueHeaders"]["X-Many"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert context["path"] == "/dev/posts/7"
    assert context["resourcePath"] == "/posts/{id}"
    assert context["requestTimeEpoch"] == 1_764_148_533_250
    assert context["requestTime"] == "26/Nov/2025:09:15:33 +0000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8"
    assert (context["apiId"], context["stage"], context["requestId"]) == ("abc123", "dev", "r-1")
    assert context["accountId"] == "000000000000"


def test_request_times_and_ids_follow_each_request() -> None:
    request = IncomingRequest("GET", "", (), b"")
    first = build_proxy_event(request, SOURCE, request_id="r-1", now=NOW)["requestContext"]
    later = build_proxy_event(request, SOURCE, request_id="r-22", now=NOW + 61)["requestContext"]
    assert (first["requestTime"], later["requestTime"]) == (
        "26/Nov/2025:09:15:33 +0000",
        "26/Nov/2025:09:16:34 +0000",
    )
    # like API Gateway's: 16 characters of base64, one per request
    assert len(first["extendedRequestId"]) == 16 and first["extendedRequestId"].endswith("=")
    assert first["extendedRequestId"] != later["extendedRequestId"]
    assert first["resourceId"] == later["resourceId"]


def test_absent_maps_are_null_and_body_is_null_without_content() -> None:
    source = RequestSource("a", "dev", "/", "/", "/dev/", "h")
    event = build(IncomingRequest("GET", "", (("Host", "h"),), b""), source)
    APIGatewayProxyEventModel.model_validate(event)
    for key in (
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ):
        assert event[key] is None, key


def test_bodies_of_the_apis_binary_media_types_travel_base64_and_others_as_text() -> None:
    payload = bytes(range(256))
    headers = (("Host", "h"), ("Content-Type", "image/png"))
    listed = replace(SOURCE, binary_media_types=("image/png",))
    event = build(IncomingRequest("PUT", "", headers, payload), listed)
    APIGatewayProxyEventModel.model_validate(event)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(str(event["body"])) == payload
    # not listed: text, and bytes that are not UTF-8 do not survive
    event = build(IncomingRequest("PUT", "", headers, payload), SOURCE)
    APIGatewayProxyEventModel.model_validate(event)
    assert event["isBase64Encoded"] is False
    assert event["body"] == payload.decode("utf-8", errors="replace")


@pytest.mark.parametrize(
    ("media", "listed", "binary"),
    [
        ("image/png", ["image/png"], True),
        ("image/png", ["IMAGE/PNG"], True),
        ("image/png", ["image/*"], True),
        ("image/png", ["*/*"], True),
        ("image/png", ["*/png"], False),  # AWS honours no wildcard type before a subtype
        ("random/test", ["*/test"], False),
        ("image/png", ["image/jpeg", "audio/*"], False),
        ("image/*", ["image/png"], False),  # a wildcard is the list's, not the request's
        ("", ["*/*"], False),  # no media type matches nothing
        ("application/json", [], False),
    ],
)
def test_binary_media_types_match_with_wildcards(
    media: str, listed: list[str], binary: bool
) -> None:
    assert is_binary(media, listed) is binary


def test_media_types_are_read_without_parameters_and_accept_by_its_first_type() -> None:
    assert media_type("Image/PNG; charset=binary") == "image/png"
    assert first_accepted("image/webp;q=0.9, */*;q=0.8") == "image/webp"
    assert first_accepted(None) == media_type(None) == ""


def test_header_names_keep_their_case_and_api_gateway_adds_its_own() -> None:
    request = IncomingRequest(
        "GET",
        "",
        (("X-Custom-Thing", "1"), ("x-forwarded-for", "10.1.1.1"), ("X-Forwarded-Proto", "ftp")),
        b"",
        source_ip="127.0.0.9",
        scheme="http",
        port=4510,
    )
    event = build_proxy_event(request, SOURCE, request_id="r", now=NOW, trace_id="Root=1-a-b")
    APIGatewayProxyEventModel.model_validate(event)
    assert event["headers"] == {
        "X-Custom-Thing": "1",
        "x-forwarded-for": "10.1.1.1, 127.0.0.9",
        "X-Forwarded-Port": "4510",
        "X-Forwarded-Proto": "http",
        "X-Amzn-Trace-Id": "Root=1-a-b",
    }
    assert event["multiValueHeaders"]["x-forwarded-for"] == ["10.1.1.1, 127.0.0.9"]
    assert event["multiValueHeaders"]["X-Forwarded-Proto"] == ["http"]
    alone = build(IncomingRequest("GET", "", (), b"", source_ip="127.0.0.9"))
    assert alone["headers"]["X-Forwarded-For"] == "127.0.0.9"


def test_a_base64_response_reaches_the_client_as_bytes_only_when_binary_is_accepted() -> None:
    result = {
        "statusCode": 200,
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }
    assert parse_proxy_response(result, binary_accepted=True).body == b"\x89PNG"
    assert parse_proxy_response(result, binary_accepted=False).body == result["body"].encode()
    # base64 that is never decoded is never checked either
    assert parse_proxy_response({**result, "body": "%%%"}, binary_accepted=False).body == b"%%%"


def test_proxy_response_merges_headers_as_api_gateway_does() -> None:
    response = parse_proxy_response(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "set-cookie": "c=3"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    # a name in both maps keeps every value, in multiValueHeaders' spelling
    assert response.headers == (
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-One", "1"),
        ("Set-Cookie", "c=3"),
    )
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {"statusCode": 200, "extra": 1},
        {"statusCode": "abc"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
    ],
)
def test_malformed_proxy_responses_are_refused(result: object) -> None:
    with pytest.raises(MalformedProxyResponse):
        parse_proxy_response(result)


def test_a_body_that_is_not_base64_is_refused_apart_when_it_is_decoded() -> None:
    with pytest.raises(UndecodableProxyBody):
        parse_proxy_response({"statusCode": 200, "body": "%%%", "isBase64Encoded": True})


def test_a_response_without_a_status_is_200() -> None:
    assert parse_proxy_response({}).status == 200
    assert parse_proxy_response({"headers": {"A": "1"}}).headers == (("A", "1"),)
