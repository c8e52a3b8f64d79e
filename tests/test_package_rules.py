"""What goes into a code package (gitignore rules in layers), and `teal package`."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e import Run
from teal.ops.export import local_artifact_paths
from teal.project.package import build_package, project_files
from teal.runtime.errors import PackageError
from test_template_support import lint_all, synth

APP = """\
from teal import App

app = App()


@app.route("/hello")
def hello(request):
    return "hi"
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(root: Path, patterns: tuple[str, ...] = ()) -> set[str]:
    return set(project_files(root, patterns=patterns))


def test_secrets_editor_leftovers_and_tests_stay_out_by_default(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app.py": APP,
            ".env": "SECRET=1",
            ".env.production": "SECRET=2",
            "app.py.bak": "old",
            "notes.txt~": "old",
            "tests/test_app.py": "",
            "pkg/__init__.py": "",
            "pkg/__pycache__/x.cpython-311.pyc": "",
            ".git/config": "",
        },
    )
    assert names(root) == {"app.py", "pkg/__init__.py"}


def test_tealignore_then_app_exclude_with_negations(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "app.py": APP,
            "data/big.db": "x",
            "data/seed.db": "x",
            "docs/readme.md": "x",
            ".tealignore": "# data files\n*.db\n!seed.db\n",
            "settings.example.env": "x",
        },
    )
    assert names(root) == {"app.py", "data/seed.db", "docs/readme.md", "settings.example.env"}
    assert names(root, ("docs/", "!.env")) == {"app.py", "data/seed.db", "settings.example.env"}
    assert ".env" in names(write(root, {".env": "x"}), ("!.env",))  # a later layer wins


def test_a_bad_pattern_names_where_it_comes_from(tmp_path: Path) -> None:
    root = write(tmp_path, {"app.py": APP, ".tealignore": "ok/\n!\n"})
    with pytest.raises(PackageError) as caught:
        build_package(root)
    assert caught.value.where is not None and caught.value.where.endswith(".tealignore")


def test_app_exclude_applies_to_deploys_through_the_cli(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run]
) -> None:
    root = make_project(
        APP,
        '[app]\nname = "demo"\nexclude = ["fixtures/"]\n',
    )
    write(root, {"fixtures/users.json": "[]", ".env": "TOKEN=1", "lib.py": ""})
    listed = teal_cli("package", "--list", "--json", "--project", str(root))
    assert listed.code == 0, listed.err
    assert [f["path"] for f in listed.json()["files"]] == ["app.py", "lib.py", "teal.toml"]


def test_teal_package_writes_what_cloudformation_package_takes(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run], tmp_path: Path
) -> None:
    root = make_project(APP)
    write(root, {".env": "TOKEN=1"})
    out = tmp_path / "out"
    result = teal_cli("package", "--out", str(out), "--json", "--project", str(root))
    assert result.code == 0, result.err
    report = result.json()
    manifest = json.loads((out / "manifest.json").read_text())
    assert report["templates"] == ["template.json"]
    [code] = report["artifacts"]
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    with zipfile.ZipFile(out / code) as archive:
        assert ".env" not in archive.namelist()
        assert {"app.py", "teal/runtime/entry.py"} <= set(archive.namelist())
    template = json.loads((out / "template.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert {f["Properties"]["Code"] for f in functions} == {code}
    assert "ArtifactBucket" not in json.dumps(template)
    assert manifest["deploy"][0].startswith("aws cloudformation package --template-file")

    again = teal_cli("package", "--out", str(out), "--project", str(root))
    assert again.code == 0, again.err  # a folder it wrote before is rewritten
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    refused = teal_cli("package", "--out", str(tmp_path / "mine"), "--project", str(root))
    assert refused.code == 2 and "not written by teal package" in refused.err


def test_after_cloudformation_package_the_template_lints_clean() -> None:
    """What `aws cloudformation package` does to local paths (upload, then an S3
    location), applied by hand: the result is a valid template for cfn-lint."""
    local = local_artifact_paths(synth(["GET /hello -> hello", "POST /items/{id}"]).template)
    for resource in local["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            key = resource["Properties"]["Code"]
            resource["Properties"]["Code"] = {"S3Bucket": "uploads", "S3Key": key}
    assert lint_all(local) == []
