"""The dependency layer: the dependencies in a Lambda layer of their own, built for the
functions' architecture, uploaded once and kept while only code changes; Lambda's
limits checked before anything is uploaded. Wheels come from folders the tests write
(a compiled extension is a file with the ELF header of its machine): no network."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aws_cfn_fake import FakeCloudFormation
from aws_fakes import FAST_POLL, aws_env, moto_endpoint, no_sleep  # noqa: F401
from conftest import Run
from teal.cloud.aws import AwsCloud
from teal.cloud.aws.session import open_session
from teal.cloud.base import StackEvent
from teal.ops.decision import ReplacePolicy
from teal.ops.deploy import DeployReport, deploy
from teal.project.config import load_project, resolve_target
from teal.project.layers import elf_machine
from test_dependency_sources import LIB, locked_project

NATIVE = "tealnative"
AARCH64, X86_64 = 183, 62
# the smallest ELF header that says what it is: class, byte order, version, machine
ELF_HEADER = b"\x7fELF\x02\x01\x01" + b"\x00" * 11


def elf(machine: int) -> bytes:
    return ELF_HEADER + machine.to_bytes(2, "little") + b"\x00" * 44


def native_wheel(folder: Path, platform: str, machine: int, name: str = NATIVE) -> None:
    """A wheel of one platform holding a compiled extension of ``machine``."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-1.0.dist-info"
    files: dict[str, bytes] = {
        f"{name}/__init__.py": b"from . import _speed\n",
        f"{name}/_speed.cpython-311-{platform}.so": elf(machine),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: teal-tests\nRoot-Is-Purelib: false\n"
        f"Tag: cp311-cp311-{platform}\n".encode(),
    }
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"]).encode()
    with zipfile.ZipFile(folder / f"{name}-1.0-cp311-cp311-{platform}.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)


TOML = """\
[app]
name = "shop"
entry = "app:app"
runtime = "python3.11"
cloud = "aws"
{extra}
[aws]
region = "us-east-1"
"""

APP = """\
from teal import App

app = App()
VERSION = "1"


@app.route("/hello", function="app")
def hello(request):
    return {"version": VERSION}
"""


def aws_project(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "teal.toml").write_text(TOML.format(extra=extra))
    (folder / "app.py").write_text(APP)
    return folder


def exported(teal_cli: Callable[..., Run], project: Path, out: Path) -> dict[str, Any]:
    done = teal_cli("package", "--out", str(out), "--json", "--project", str(project))
    assert done.code == 0, done.err + done.out
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_package_writes_the_layer_beside_the_code_and_says_who_uses_it(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")
    aws_project(project)
    out = tmp_path / "out"

    manifest = exported(teal_cli, project, out)

    [layer_key] = [f["path"] for f in manifest["files"] if f["path"].startswith("layers/")]
    layer = zip_names(out / layer_key)
    assert f"python/{LIB}/__init__.py" in layer
    assert f"python/{LIB}-1.0.dist-info/METADATA" in layer  # the lock's version, not 2.0
    with zipfile.ZipFile(out / layer_key) as archive:
        assert archive.read(f"python/{LIB}/__init__.py") == b"VERSION = '1.0'\n"
    code = zip_names(out / manifest["code"])
    assert not any(name.startswith(LIB) for name in code), code
    assert "app.py" in code
    assert manifest["layers"] == {"shop-dev-app": [layer_key]}
    template = json.loads((out / "template.json").read_text())
    [resource] = [r for r in template["Resources"].values() if r["Type"].endswith("LayerVersion")]
    assert resource["Properties"]["Content"] == layer_key  # for aws cloudformation package
    assert resource["Properties"]["CompatibleArchitectures"] == ["x86_64"]


@pytest.mark.parametrize(
    ("setting", "machine", "architectures"),
    [('architecture = "arm64"', AARCH64, ["arm64"]), ("", X86_64, None)],
)
def test_the_layer_holds_extensions_of_the_functions_architecture(
    tmp_path: Path,
    teal_cli: Callable[..., Run],
    setting: str,
    machine: int,
    architectures: list[str] | None,
) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "manylinux2014_aarch64", AARCH64)
    native_wheel(wheels, "manylinux2014_x86_64", X86_64)
    project = aws_project(tmp_path / "shop", setting)
    (project / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{NATIVE}==1.0\n")
    out = tmp_path / "out"

    manifest = exported(teal_cli, project, out)

    [layer_key] = manifest["layers"]["shop-dev-app"]
    with zipfile.ZipFile(out / layer_key) as archive:
        extensions = [name for name in archive.namelist() if name.endswith(".so")]
        assert extensions, archive.namelist()
        for name in extensions:
            unpacked = tmp_path / "unpacked" / name
            unpacked.parent.mkdir(parents=True, exist_ok=True)
            unpacked.write_bytes(archive.read(name))
            assert elf_machine(unpacked) == machine, name
    template = json.loads((out / "template.json").read_text())
    [function] = [r for r in template["Resources"].values() if r["Type"].endswith("::Function")]
    assert function["Properties"].get("Architectures") == architectures
    [layer] = [r for r in template["Resources"].values() if r["Type"].endswith("LayerVersion")]
    assert layer["Properties"]["CompatibleArchitectures"] == [architectures or ["x86_64"]][0]


def test_arm64_without_a_wheel_for_it_is_refused_naming_the_package(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "manylinux2014_x86_64", X86_64)
    project = aws_project(tmp_path / "shop", 'architecture = "arm64"')
    (project / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{NATIVE}==1.0\n")

    done = teal_cli("package", "--json", "--project", str(project))

    assert done.code == 2, done.err
    error = done.json()["error"]
    assert error["what"].startswith(f"{NATIVE}==1.0 has no wheel for Lambda (manylinux2014_aarch64")
    assert not (project / "teal-package").exists()


def test_a_wheel_whose_extension_is_built_for_another_machine_is_refused(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    """Tagged for aarch64, built for x86-64: teal reads the ELF header, not the tag (the
    x86_64 wheel is the one this machine's local install of the app reads)."""
    wheels = tmp_path / "wheels"
    native_wheel(wheels, "manylinux2014_aarch64", X86_64)
    native_wheel(wheels, "manylinux2014_x86_64", X86_64)
    project = aws_project(tmp_path / "shop", 'architecture = "arm64"')
    (project / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{NATIVE}==1.0\n")

    done = teal_cli("package", "--json", "--project", str(project))

    assert done.code == 2, done.err
    error = done.json()["error"]
    assert error["what"].startswith(f"{NATIVE} holds a compiled extension built for x86-64")
    assert error["where"] == NATIVE


def test_the_dependency_layer_counts_toward_lambdas_five_layers(
    tmp_path: Path, teal_cli: Callable[..., Run]
) -> None:
    arns = [f"arn:aws:lambda:us-east-1:123456789012:layer:extra{n}:1" for n in range(5)]
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")
    aws_project(project)
    with (project / "teal.toml").open("a") as toml:
        toml.write(f"\n[functions.app]\nlayers = {json.dumps(arns[:4])}\n")
    assert exported(teal_cli, project, tmp_path / "out")["layers"]["shop-dev-app"][1:] == arns[:4]

    text = (project / "teal.toml").read_text().replace(json.dumps(arns[:4]), json.dumps(arns))
    (project / "teal.toml").write_text(text)
    done = teal_cli("package", "--json", "--project", str(project))

    assert done.code == 2, done.err
    error = done.json()["error"]
    assert "function app would have 6 layers" in error["what"]
    assert "over Lambda's limit of 5" in error["what"]
    assert error["where"] == "teal.toml [functions.app] layers"


# ---------------------------------------------------------------- a code-only redeploy


@pytest.fixture
def moto(moto_endpoint: str, aws_env: None) -> str:  # noqa: F811
    return moto_endpoint


def test_a_code_only_redeploy_uploads_the_code_and_keeps_the_layer(
    moto: str, tmp_path: Path
) -> None:
    project = locked_project(tmp_path / "shop", tmp_path / "wheels")
    aws_project(project)
    clients = open_session("us-east-1", None, moto)
    cloud = AwsCloud(clients, sleep=no_sleep, poll=FAST_POLL)
    fake_clients = open_session("us-east-1", None, moto)
    fake = FakeCloudFormation(fake_clients.apigateway, fake_clients.s3)
    fake.attach(clients.cloudformation)
    puts: list[str] = []
    clients.s3.meta.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **_: puts.append(str(params["Key"])),
    )

    def run() -> DeployReport:
        target = resolve_target(load_project(project), cloud="aws")
        events: list[StackEvent] = []
        return deploy(
            target, cloud, ReplacePolicy("auto"), on_event=events.append, progress=str, user="t"
        )

    def layer_of(report: DeployReport) -> tuple[str, Any]:
        stack = fake.find(report.target.environment)
        resources = stack.template["Resources"].items()
        [(logical_id, body)] = [
            (i, r) for i, r in resources if r["Type"] == "AWS::Lambda::LayerVersion"
        ]
        return stack.physical[logical_id], body

    first = run()
    layer_puts = [key for key in puts if key.startswith("layers/")]
    assert len(layer_puts) == 1
    assert set(first.uploaded) >= {f"code/{first.code_sha256}.zip", *layer_puts}
    version, body = layer_of(first)

    (project / "app.py").write_text(APP.replace('VERSION = "1"', 'VERSION = "2"'))
    puts.clear()
    second = run()

    code_key = f"code/{second.code_sha256}.zip"
    assert second.code_sha256 != first.code_sha256
    assert [key for key in puts if not key.startswith(("teal/", "history/", "locks/"))] == [
        code_key
    ], puts
    assert second.uploaded == {code_key: second.uploaded[code_key]}
    assert second.to_json()["uploaded_bytes"] == second.uploaded[code_key]
    assert layer_of(second) == (version, body)  # the same LayerVersion, the same content


def test_the_config_reference_names_the_new_settings() -> None:
    """teal.toml's reference documents the settings the reader takes."""
    reference = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for setting in ("dependencies", "optional_dependencies", "architecture"):
        assert f"`{setting}`" in reference, setting
