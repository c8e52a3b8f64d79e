"""The gateway process over real HTTP: what its HTTP server adds or must not add."""

from __future__ import annotations

import http.client
import json
from typing import Any

from test_gateway_support import Cloud, cloud

__all__ = ["cloud"]  # the fixture


def echoed_event(port: int, headers: dict[str, str]) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/restapis/blue/dev/_user_request_/echo/1", headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        event: dict[str, Any] = json.loads(response.read())["event"]
        return event
    finally:
        connection.close()


def test_a_forwarded_for_header_is_passed_on_and_never_becomes_the_source_ip(
    cloud: Cloud,
) -> None:
    cloud.start()
    event = echoed_event(
        cloud.port, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    # API Gateway's sourceIp is the connection's address, whatever the client claims
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    # API Gateway appends the connection's address, and says how the client connected
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == str(cloud.port)


def test_header_names_reach_the_event_in_the_clients_case(cloud: Cloud) -> None:
    cloud.start()
    event = echoed_event(cloud.port, {"X-MiXeD-Case": "1", "accept": "text/plain"})
    assert event["headers"]["X-MiXeD-Case"] == "1"
    assert event["multiValueHeaders"]["X-MiXeD-Case"] == ["1"]
    assert event["headers"]["accept"] == "text/plain"
    assert "Host" in event["headers"]  # as http.client writes it
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
