"""Functions run locally in the runtime's own world, as on Lambda: its Python, the app's
requirements, the runtime's SDK, and nothing installed beside teal."""

from __future__ import annotations

import json

from e2e import LocalCloudEnv, get
from test_runtimes import other_python

APP = """\
import platform

import humanize

from teal import App

app = App()


@app.route("/size")
def size(request):
    return {"size": humanize.naturalsize(2048), "python": platform.python_version()}


@app.route("/sdk")
def sdk(request):
    import boto3

    return {"boto3": boto3.__version__}


@app.route("/beside-teal")
def beside_teal(request):
    import rich  # installed beside teal, not in requirements.txt: Lambda has no such thing

    return {"rich": True}
"""


def write_app(cloud: LocalCloudEnv, runtime: str) -> None:
    (cloud.project / "app.py").write_text(APP)
    (cloud.project / "requirements.txt").write_text("humanize==4.11.0\n")
    toml = cloud.project / "teal.toml"
    text = toml.read_text().replace('runtime = "python3.11"', f'runtime = "{runtime}"')
    toml.write_text(text.split("[[checks]]")[0])  # the blog's checks name routes it lacks


def test_functions_import_their_requirements_and_the_sdk_but_nothing_beside_teal(
    local_cloud: LocalCloudEnv,
) -> None:
    runtime = other_python()
    write_app(local_cloud, runtime)
    endpoint = local_cloud.teal_ok("deploy", "--json").json()["endpoint"]

    status, body = get(endpoint + "size")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["size"] == "2.0 kB"
    assert answer["python"].startswith(runtime.removeprefix("python"))
    assert get(endpoint + "sdk")[0] == 200
    assert get(endpoint + "beside-teal")[0] == 500
    logs = "".join(p.read_text() for p in (local_cloud.home / "logs").rglob("*.log"))
    assert "No module named 'rich'" in logs
