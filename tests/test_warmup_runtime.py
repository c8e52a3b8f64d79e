"""The runtime's side of warming: the warm-up event imports the app and runs its
startup (an ASGI app's lifespan), calls no handler, holds its execution environment
as long as asked and names it; an app that fails to import fails the warm-up.

Each case runs in a fresh interpreter, as a new execution environment would: the
runtime keeps the app it imported for the environment's life."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ASGI_APP = """
STARTED, CALLS = [], []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        STARTED.append(message["type"])
        await send({"type": "lifespan.startup.complete"})
        await receive()
        return
    CALLS.append(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
TEAL_APP = """
from teal import App

app = App()
CALLS = []


@app.route("/")
def home(request):
    CALLS.append(1)
    return "home"
"""
# the event as teal sends it (written out: its shape is a contract with deployed runtimes)
RUN = """
import json, sys, time
from teal.runtime.entry import handler

started = time.monotonic()
answer = handler({{"teal-warm-up": {{"hold_s": {hold_s}}}}}, None)
held = time.monotonic() - started
app = sys.modules["{module}"]
print(json.dumps({{"answer": answer, "held": held, "started": getattr(app, "STARTED", None),
                  "calls": len(app.CALLS)}}))
"""


def warm_up(tmp_path: Path, source: str, hold_s: float = 0.0) -> dict[str, Any]:
    (tmp_path / "subject.py").write_text(textwrap.dedent(source))
    env = {
        **os.environ,
        "TEAL_ENTRY": "subject:app",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/05/01/[$LATEST]0123abcd",
        "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", ""))),
    }
    script = RUN.format(hold_s=hold_s, module="subject")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_an_asgi_apps_lifespan_starts_and_no_request_reaches_it(tmp_path: Path) -> None:
    seen = warm_up(tmp_path, ASGI_APP)
    assert seen["started"] == ["lifespan.startup"]
    assert seen["calls"] == 0
    assert seen["answer"] == {"warmed": True, "environment": "2026/05/01/[$LATEST]0123abcd"}


def test_a_teal_apps_handlers_are_not_called(tmp_path: Path) -> None:
    seen = warm_up(tmp_path, TEAL_APP)
    assert seen["calls"] == 0 and seen["answer"]["warmed"] is True


def test_the_warm_up_holds_its_environment_as_long_as_asked(tmp_path: Path) -> None:
    seen = warm_up(tmp_path, TEAL_APP, hold_s=0.4)
    assert seen["held"] >= 0.4


def test_an_app_that_fails_to_import_fails_the_warm_up(tmp_path: Path) -> None:
    (tmp_path / "subject.py").write_text('raise RuntimeError("DATABASE_URL is not set")\n')
    path = os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", "")))
    env = {**os.environ, "TEAL_ENTRY": "subject:app", "PYTHONPATH": path}
    script = (
        'from teal.runtime.entry import handler\nhandler({"teal-warm-up": {"hold_s": 0}}, None)\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "RuntimeError: DATABASE_URL is not set" in done.stderr
