"""The conformance corpus, run against the local cloud over real HTTP and, for every event
case, through teal's runtime adapters (a teal App, ASGI, WSGI).

One gateway process serves the corpus's APIs (:data:`corpus.APIS`) and a custom domain for
the whole module; one function answers every method: it returns the event it got, or, for
an answer case, what the case says the Lambda returned.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import os
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import pytest
from cases import ANSWERS, CASES, EVENT_CASES
from corpus import APIS, DOMAIN_BASE, DOMAIN_NAME, SOURCE_KINDS, UNSOURCED, ApiShape, Case

from teal import App
from teal.cloud.local.gateway.lifecycle import ensure_gateway, stop_gateway
from teal.cloud.local.model import (
    LOCAL_ACCOUNT_ID,
    AuthorizerSpec,
    DomainRoute,
    GatewayResponseSpec,
    MockAnswer,
    RouteIntegration,
    ServedStage,
)
from teal.cloud.local.paths import LocalPaths
from teal.project.package import build_package
from teal.runtime.asgi import AsgiAdapter
from teal.runtime.entry import build_dispatch, invoke
from teal.runtime.wsgi import WsgiAdapter
from test_gateway_support import FAKE_STATE, TESTS, FakeServingState, free_port, make_function

FUNCTION_SOURCE = """
import json
import os

with open(os.path.join(os.path.dirname(__file__), "answers.json")) as answers:
    ANSWERS = json.load(answers)


def policy(effect, resource, context=None):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    answer = {
        "principalId": "user-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
    if context is not None:
        answer["context"] = context
    return answer


def authorize(event):
    # as an authorizer: the token (or the X-Team header) says what to answer
    if event["type"] == "TOKEN":
        token = event["authorizationToken"]
    else:
        token = (event.get("headers") or {}).get("X-Team", "")
    context = {
        "user": "u1",
        "n": 7,
        "ok": True,
        "methodArn": event["methodArn"],
        "type": event["type"],
        "sawBody": "body" in event,
    }
    if token in ("allow", "blue") or token.startswith("Bearer "):
        return policy("Allow", event["methodArn"], context)
    if token in ("deny", "red"):
        return policy("Deny", event["methodArn"])
    if token == "other":
        return policy("Allow", "arn:aws:execute-api:*:*:otherapi/*")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "junk":
        return "not a policy"
    raise RuntimeError("the authorizer failed")


def handler(event, context):
    if event.get("type") in ("TOKEN", "REQUEST"):
        return authorize(event)
    name = (event.get("queryStringParameters") or {}).get("answer")
    if name is None:
        return {"statusCode": 200, "body": json.dumps(event)}
    returned = ANSWERS[name]
    if isinstance(returned, dict) and "__raise__" in returned:
        raise RuntimeError(returned["__raise__"])
    return returned
"""


@dataclasses.dataclass
class Corpus:
    """The running gateway, and the events it delivered (each case's, fetched once)."""

    port: int
    domain_port: int
    events: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def send(self, case: Case) -> tuple[int, list[tuple[str, str]], bytes]:
        sent = case.sent
        if sent.via_domain:
            port, target, host = self.domain_port, sent.path, DOMAIN_NAME
        else:
            port, host = self.port, f"127.0.0.1:{self.port}"
            target = f"/restapis/{case.api.api_id}/{case.api.stage}/_user_request_{sent.path}"
        if sent.query:
            target += "?" + sent.query
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.putrequest(sent.method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host)
            for name, value in sent.headers:
                connection.putheader(name, value)
            if sent.chunked:
                connection.putheader("Transfer-Encoding", "chunked")
                connection.endheaders()
                connection.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(sent.body), sent.body))
            else:
                if sent.body or sent.method in ("POST", "PUT", "PATCH"):
                    connection.putheader("Content-Length", str(len(sent.body)))
                connection.endheaders(sent.body or None)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def event_of(self, case: Case) -> dict[str, Any]:
        if case.name not in self.events:
            status, _, body = self.send(case)
            assert status == 200, body
            self.events[case.name] = json.loads(body)
        return self.events[case.name]


def _publish(paths: LocalPaths, project: Path) -> tuple[str, str]:
    project.mkdir(parents=True)
    (project / "corpus_fn.py").write_text(textwrap.dedent(FUNCTION_SOURCE))
    (project / "answers.json").write_text(json.dumps(ANSWERS))
    package = build_package(project)
    target = paths.artifact(package.key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(package.data)
    return package.sha256, package.key


def _serve(state: FakeServingState, shape: ApiShape, sha: str, key: str) -> None:
    spec = make_function(f"{shape.api_id}-fn", sha, key, timeout_s=10, api_id=shape.api_id)
    # the permissions the API's stack wrote, in the API's region
    methods_arn = f"arn:aws:execute-api:{shape.region}:{LOCAL_ACCOUNT_ID}:{shape.api_id}/*/*/*"
    authorizers_arn = methods_arn.replace("/*/*/*", "/authorizers/*")
    spec = dataclasses.replace(
        spec,
        handler="corpus_fn.handler",
        invoke_source_arns=(methods_arn, authorizers_arn),
    )
    state.put_function(spec)
    routes = tuple(
        RouteIntegration(path, verb, spec.arn, *shape.access.get((path, verb), ("NONE", None)))
        for path, verb in shape.methods
    )
    routes += tuple(
        RouteIntegration(path, "OPTIONS", None, mock=MockAnswer(200, headers))
        for path, headers in shape.preflights.items()
    )
    state.put_stage(
        ServedStage(
            shape.api_id,
            shape.stage,
            f"dep-{shape.api_id}",
            routes,
            dict(shape.stage_variables),
            shape.binary_media_types,
            {
                a.id: AuthorizerSpec(
                    a.id, a.id, a.type, spec.arn, a.identity_sources, a.ttl_s, a.validation
                )
                for a in shape.authorizers
            },
            {
                kind: GatewayResponseSpec(kind, None, headers)
                for kind, headers in shape.gateway_responses.items()
            },
            shape.region,
        )
    )
    for value, key_id in shape.api_keys.items():
        state.put_api_key(shape.api_id, shape.stage, value, key_id)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    tmp = tmp_path_factory.mktemp("conformance")
    paths = LocalPaths(tmp / "home")
    paths.home.mkdir(parents=True)
    state = FakeServingState()
    sha, key = _publish(paths, tmp / "project")
    for shape in APIS:
        _serve(state, shape, sha, key)
    main = next(shape for shape in APIS if shape.binary_media_types)
    domain_port = free_port()
    state.put_domain(DomainRoute(DOMAIN_NAME, domain_port, {DOMAIN_BASE: (main.api_id, "dev")}))
    state.save(paths)
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        python_path = os.environ.get("PYTHONPATH", "")
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), python_path) if p))
        status = ensure_gateway(paths, port, serving_state=FAKE_STATE)
        assert status.running
        try:
            yield Corpus(port, domain_port)
        finally:
            stop_gateway(paths)


# ---------------------------------------------------------------- the corpus itself


def test_every_case_names_its_source_and_a_unique_name() -> None:
    assert len({case.name for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.source.kind in (*SOURCE_KINDS, UNSOURCED) and case.source.where, case.name
    unsourced = [case.name for case in CASES if case.source.kind == UNSOURCED]
    assert len(unsourced) <= 6, unsourced  # the exception, each listed in docs/api-gateway.md


def _at(event: Mapping[str, Any], dotted: str) -> Any:
    value: Any = event
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise KeyError(dotted)
        value = value[key]
    return value


def _has(event: Mapping[str, Any], dotted: str) -> bool:
    try:
        _at(event, dotted)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_local_cloud_answers_as_aws_did(corpus: Corpus, case: Case) -> None:
    if case.is_event_case:
        event = corpus.event_of(case)
        for dotted, expected in case.event.items():
            assert _has(event, dotted), f"{dotted} missing from the event"
            assert _at(event, dotted) == expected, dotted
        for dotted in case.absent:
            assert not _has(event, dotted), f"{dotted} is in the event; AWS leaves it out"
        return
    status, headers, body = corpus.send(case)
    assert status == case.status, body
    for name, values in case.answer_headers.items():
        assert [v for k, v in headers if k == name] == values, (name, headers)
    for name, pattern in case.answer_patterns.items():
        (value,) = [v for k, v in headers if k.lower() == name.lower()] or [None]
        assert value is not None and re.fullmatch(pattern, value), (name, headers)
    if case.answer_body is not None:
        assert body == case.answer_body


# ---------------------------------------------------------------- what a handler sees


def _aws_event(delivered: Mapping[str, Any], case: Case) -> dict[str, Any]:
    """The delivered event with every value the case knows AWS's for put in place: what
    the runtime gets on AWS."""
    event = json.loads(json.dumps(delivered))
    for dotted, value in case.event.items():
        *parents, last = dotted.split(".")
        target = event
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return event


def _root(case: Case) -> str:
    return f"/{DOMAIN_BASE}" if case.sent.via_domain else f"/{case.api.stage}"


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def _view(**facts: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(facts)}


def _teal_app() -> App:
    app = App()
    seen: set[str] = set()
    for shape in APIS:
        for path, _ in shape.methods:
            if path in seen:
                continue
            seen.add(path)
            verbs = [verb for p, verb in shape.methods if p == path]

            @app.route(path, methods=verbs)
            def view(request: Any) -> dict[str, Any]:
                return {
                    "path": request.path,
                    "params": dict(request.path_params),
                    "query_all": {k: list(v) for k, v in request.query_all.items()},
                    "headers": dict(request.headers),
                    "body": base64.b64encode(request.body).decode(),
                }

    return app


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    facts = {
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "root_path": scope["root_path"],
        "query_string": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body": base64.b64encode(body).decode(),
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(facts).encode()})


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    facts = {
        "PATH_INFO": environ["PATH_INFO"],
        "SCRIPT_NAME": environ["SCRIPT_NAME"],
        "headers": {
            k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_TYPE"
        },
        "body": base64.b64encode(environ["wsgi.input"].read(size)).decode(),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(facts).encode()]


@pytest.fixture(scope="module")
def asgi() -> Iterator[AsgiAdapter]:
    adapter = AsgiAdapter(_asgi_app)
    yield adapter
    adapter.close()


def _answer_of(result: Mapping[str, Any]) -> Any:
    assert result.get("statusCode") == 200, result
    return json.loads(result["body"])


@pytest.mark.parametrize("case", EVENT_CASES, ids=[case.name for case in EVENT_CASES])
def test_handlers_see_the_request_decoded_once(
    corpus: Corpus, asgi: AsgiAdapter, case: Case
) -> None:
    event = _aws_event(corpus.event_of(case), case)
    path = str(event["path"])
    root = _root(case)
    # through a custom domain the event's path starts with the base path, the app's root
    inner = path[len(root) :] or "/" if case.sent.via_domain else path
    params = {k: unquote(v) for k, v in (event.get("pathParameters") or {}).items()}
    names = [
        d.split(".", 1)[1] for d in case.event if d.startswith(("headers.", "multiValueHeaders."))
    ]
    multi = event.get("multiValueHeaders") or {}
    values = {name: multi.get(name) or [event["headers"][name]] for name in names}
    body = _body(event)

    teal = _answer_of(invoke(build_dispatch(_teal_app(), None), event, None))
    assert teal["path"] == unquote(path)
    assert teal["params"] == params
    assert teal["query_all"] == (event.get("multiValueQueryStringParameters") or {})
    assert {k: teal["headers"][k] for k in names} == {k: event["headers"][k] for k in names}
    assert base64.b64decode(teal["body"]) == body

    scope = _answer_of(asgi(event, None))
    assert scope["path"] == root + unquote(inner)
    assert scope["raw_path"] == root + inner
    assert scope["root_path"] == root
    for name in names:
        assert [v for k, v in scope["headers"] if k == name.lower()] == values[name]
    assert base64.b64decode(scope["body"]) == body

    environ = _answer_of(WsgiAdapter(_wsgi_app)(event, None))
    assert environ["PATH_INFO"] == unquote_to_bytes(inner).decode("latin-1")
    assert environ["SCRIPT_NAME"] == root
    for name in names:
        assert environ["headers"][_cgi_name(name)] == ", ".join(values[name])
    assert base64.b64decode(environ["body"]) == body


def _cgi_name(header: str) -> str:
    name = header.upper().replace("-", "_")
    return name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
