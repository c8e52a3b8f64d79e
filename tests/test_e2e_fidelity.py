"""Real third-party code judges the local cloud's fidelity: aws-lambda-powertools'
APIGatewayRestResolver and FastAPI through Mangum, each as a raw handler on
/{proxy+}, deployed and called through the CLI as a user would."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import random
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from e2e import LocalCloudEnv

POWERTOOLS_APP = """
import base64
import os
import tempfile

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from teal import App

resolver = APIGatewayRestResolver()
app = App()


@app.route("/{proxy+}", methods=["ANY"], raw=True, function="api")
def api(event, context):
    return resolver.resolve(event, context)


def raw_body():
    event = resolver.current_event
    if event.is_base64_encoded:
        return base64.b64decode(event.body)
    return (event.body or "").encode("utf-8")


@resolver.post("/echo")
def echo():
    event = resolver.current_event
    return Response(
        status_code=200,
        content_type=event.headers.get("content-type", "application/octet-stream"),
        body=raw_body(),
    )


@resolver.get("/inspect")
def inspect():
    event = resolver.current_event
    context = resolver.lambda_context
    names = [
        "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_X_AMZN_TRACE_ID",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    ]
    return {
        "headers": event.raw_event["headers"],
        "lambda_request_id": context.aws_request_id,
        "gateway_request_id": event.request_context.request_id,
        "env": {name: os.environ.get(name) for name in names},
    }


@resolver.post("/files")
def files():
    outcome = {}
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "upload.bin"), "wb") as out:
            out.write(raw_body())
        outcome["code"] = "written"
    except OSError as exc:
        outcome["code"] = type(exc).__name__
    with tempfile.NamedTemporaryFile(delete=False) as scratch:
        scratch.write(raw_body())
    with open(scratch.name, "rb") as back:
        outcome["tmp"] = len(back.read())
    return outcome


@resolver.get("/boom")
def boom():
    raise RuntimeError("no exception handler: the invocation fails")


@resolver.get("/hog")
def hog():
    held = [bytearray(16 * 1024 * 1024) for _ in range(16)]  # 256 MiB in a 128 MB function
    return {"held": len(held)}
"""

FASTAPI_APP = """
import hashlib

from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import Response
from mangum import Mangum

from teal import App

api = FastAPI()
adapter = Mangum(api, lifespan="off")
app = App()


@app.route("/{proxy+}", methods=["ANY"], raw=True, function="web")
def web(event, context):
    return adapter(event, context)


@api.post("/echo")
async def echo(request: Request) -> Response:
    data = await request.body()
    media = request.headers.get("content-type", "application/octet-stream")
    return Response(content=data, media_type=media)


@api.post("/uploads")
async def uploads(file: UploadFile) -> dict[str, object]:
    data = await file.read()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@api.get("/items/{item_id}")
async def item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}
"""

TOML = """
[app]
name = "{name}"
entry = "app:app"
runtime = "python3.11"
memory = 256
timeout = 10
binary_media_types = {types}

[functions.api]
memory = 128
"""

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def write_project(folder: Path, name: str, source: str, requirements: str, types: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.is_file():
            stale.unlink()
    (folder / "app.py").write_text(textwrap.dedent(source))
    (folder / "requirements.txt").write_text(requirements)
    toml = TOML.format(name=name, types=types)
    if name != "pt":
        toml = toml.split("[functions.api]")[0]
    (folder / "teal.toml").write_text(textwrap.dedent(toml))


def send(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these header names (urllib would recase them)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def deploy(cloud: LocalCloudEnv) -> str:
    endpoint: str = cloud.teal_ok("deploy", "--json").json()["endpoint"]
    return endpoint


def test_powertools_sees_the_event_api_gateway_would_send(local_cloud: LocalCloudEnv) -> None:
    write_project(
        local_cloud.project, "pt", POWERTOOLS_APP, "aws-lambda-powertools==3.*\n", '["image/png"]'
    )
    endpoint = deploy(local_cloud)

    # a listed media type: bytes in, bytes out, exactly
    png = {"Content-Type": "image/png", "Accept": "image/png"}
    status, _, body = send(endpoint + "echo", "POST", PNG, png)
    assert (status, body) == (200, PNG)
    # a browser-like Accept first names text/html: the client gets the base64 text
    status, _, body = send(endpoint + "echo", "POST", PNG, {**png, "Accept": "text/html, */*"})
    assert (status, base64.b64decode(body)) == (200, PNG)
    # a type the API does not list arrives as text: bytes that are not UTF-8 are lost
    # (and the answer, base64 from powertools, reaches the client as base64 text)
    octets = {"Content-Type": "application/x-custom", "Accept": "application/x-custom"}
    status, _, body = send(endpoint + "echo", "POST", PNG, octets)
    mangled = PNG.decode("utf-8", errors="replace").encode("utf-8")
    assert (status, base64.b64decode(body)) == (200, mangled)

    status, _, body = send(endpoint + "inspect", headers={"X-MiXeD-Case": "kept"})
    assert status == 200, body
    seen = json.loads(body)
    assert seen["headers"]["X-MiXeD-Case"] == "kept"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "http"
    assert seen["headers"]["X-Forwarded-Port"] == str(local_cloud.port)
    trace = seen["headers"]["X-Amzn-Trace-Id"]
    assert seen["env"]["_X_AMZN_TRACE_ID"].startswith(trace + ";Parent=")
    assert seen["lambda_request_id"] != seen["gateway_request_id"]
    assert seen["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert seen["env"]["AWS_LAMBDA_FUNCTION_NAME"].startswith("pt-dev-")
    assert seen["env"]["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/pt-dev"  # the environment's
    assert seen["env"]["LAMBDA_RUNTIME_DIR"] and seen["env"]["LAMBDA_TASK_ROOT"]

    status, _, body = send(endpoint + "files", "POST", b"12345", {"Content-Type": "text/plain"})
    assert (status, json.loads(body)) == (200, {"code": "PermissionError", "tmp": 5})

    assert send(endpoint + "boom")[:1] == (502,)
    status, _, body = send(endpoint + "hog")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    logs = "".join(p.read_text() for p in (local_cloud.home / "logs").rglob("*.log"))
    assert "RuntimeError: no exception handler: the invocation fails" in logs
    assert "Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory" in logs

    # the list is the deployed RestApi's: a new one takes effect with the next deploy
    toml = local_cloud.project / "teal.toml"
    toml.write_text(toml.read_text().replace('["image/png"]', '["*/*"]'))
    endpoint = deploy(local_cloud)
    status, _, body = send(endpoint + "echo", "POST", PNG, octets)
    assert (status, body) == (200, PNG)


def test_fastapi_through_mangum_round_trips_bytes_and_routes(local_cloud: LocalCloudEnv) -> None:
    write_project(
        local_cloud.project,
        "fa",
        FASTAPI_APP,
        "fastapi\nmangum\npython-multipart\n",
        '["application/octet-stream", "multipart/form-data"]',
    )
    endpoint = deploy(local_cloud)

    octets = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}
    status, _, body = send(endpoint + "echo", "POST", PNG, octets)
    assert (status, body) == (200, PNG)
    status, _, body = send(endpoint + "items/7?q=blue", headers={"Accept": "application/json"})
    assert (status, json.loads(body)) == (200, {"item_id": 7, "q": "blue"})
    assert send(endpoint + "items/seven")[0] == 422  # FastAPI's own validation answer
    # not listed: text in; FastAPI then answers with base64 the client receives as text
    png = {"Content-Type": "image/png", "Accept": "image/png"}
    status, _, body = send(endpoint + "echo", "POST", PNG, png)
    assert status == 200 and body != PNG
    # a multipart upload of random bytes, its type listed: base64 in, intact in the app
    data = random.Random(3).randbytes(3000)
    boundary = "fidelity-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, body = send(endpoint + "uploads", "POST", form, multipart)
    assert (status, json.loads(body)) == (
        200,
        {"size": 3000, "sha256": hashlib.sha256(data).hexdigest()},
    )
