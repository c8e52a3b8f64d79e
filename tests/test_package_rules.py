"""What goes into a code package (gitignore rules in layers), and `teal package`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pathspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e import Run
from teal.ops.export import local_artifact_paths
from teal.project.exclusions import SETTINGS, Exclusion, _Layer
from teal.project.package import build_package, project_files, select_files
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


GIT_TREE = {
    "app.py": APP,
    ".gitignore": "*.log\nbuild/\n!keep.log\nsecret.txt\n/top.txt\n",
    "debug.log": "x",
    "keep.log": "x",  # brought back by a later line of the same file
    "secret.txt": "x",
    "top.txt": "x",
    "build/out.js": "x",
    "build/.gitignore": "!out.js\n",  # in a folder left out: never read, as git never does
    "pkg/__init__.py": "",
    "pkg/top.txt": "x",  # '/top.txt' is anchored to the root's folder
    "pkg/.gitignore": "/local.py\n!debug.log\n",  # its own folder's; deeper wins
    "pkg/local.py": "",
    "pkg/debug.log": "x",
    "pkg/sub/local.py": "",  # '/local.py' is anchored to pkg/
    "pkg/sub/secret.txt": "x",
    "data/.gitignore": "*\n!.gitignore\n!wanted.csv\n",
    "data/wanted.csv": "x",
    "data/other.csv": "x",
    "odd/.gitignore": "!\nfoo\\\n*.tmp\n",  # lines git skips are skipped, the rest count
    "odd/a.tmp": "x",
    "odd/b.txt": "x",
}


def test_gitignore_files_leave_out_what_git_ignores(tmp_path: Path) -> None:
    """The project's .gitignore files (nested ones, negations, anchors) leave out what git
    itself ignores: git is asked about the same tree."""
    root = write(tmp_path / "proj", GIT_TREE)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"},
    ).stdout.split()
    kept_by_git = {name for name in listed if not name.endswith(".gitignore")}
    assert kept_by_git == {
        "app.py",
        "keep.log",
        "pkg/__init__.py",
        "pkg/top.txt",
        "pkg/debug.log",
        "pkg/sub/local.py",
        "data/wanted.csv",
        "odd/b.txt",
    }
    assert names(root) == kept_by_git  # .gitignore files themselves are never packaged
    excluded = {item.path: item for item in select_files(root).excluded}
    assert excluded["build/"] == Exclusion("build/", ".gitignore", "build/")
    assert excluded["pkg/local.py"] == Exclusion("pkg/local.py", "pkg/.gitignore", "/local.py")
    assert excluded["data/other.csv"] == Exclusion("data/other.csv", "data/.gitignore", "*")
    assert excluded["pkg/sub/secret.txt"].source == ".gitignore"


def test_tealignore_and_app_exclude_win_over_gitignore_which_cannot_undo_defaults(
    tmp_path: Path,
) -> None:
    root = write(
        tmp_path,
        {
            "app.py": APP,
            ".gitignore": "static/dist/\n*.sqlite\n!.env.example\n!tests/\n",
            "static/dist/app.js": "built",  # not in git, but the app serves it
            "seed.sqlite": "x",
            ".env.example": "KEY=",  # teal's defaults leave .env.* out
            "tests/test_app.py": "",
        },
    )
    assert names(root) == {"app.py"}
    write(root, {".tealignore": "!static/dist/\n"})
    assert names(root) == {"app.py", "static/dist/app.js"}
    assert names(root, ("!seed.sqlite", "!.env.example")) == {
        "app.py",
        "static/dist/app.js",
        "seed.sqlite",
        ".env.example",
    }


def test_teal_toml_never_goes_into_the_package(tmp_path: Path) -> None:
    """Its [app.environment] values reach functions as variables: a copy in the zip would
    only hand them to whoever reads the code."""
    root = write(
        tmp_path,
        {
            "app.py": APP,
            "teal.toml": '[app]\nname = "demo"\n[app.environment]\nAPI_KEY = "s3cret"\n',
            "conf/teal.toml": "# the app's own file of that name, elsewhere, is its business",
            ".tealignore": "!teal.toml\n",
        },
    )
    package = build_package(root, patterns=("!/teal.toml",))
    assert "teal.toml" not in package.files and "conf/teal.toml" in package.files
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        assert not any(b"s3cret" in archive.read(name) for name in archive.namelist())
    assert Exclusion("teal.toml", SETTINGS) in package.excluded


def test_teal_package_says_what_it_left_out_and_why(
    make_project: Callable[..., Path], teal_cli: Callable[..., Run], tmp_path: Path
) -> None:
    root = make_project(APP, '[app]\nname = "demo"\nexclude = ["fixtures/"]\n')
    write(
        root,
        {
            ".gitignore": "*.log\n",
            "server.log": "x",
            "fixtures/users.json": "[]",
            ".env": "TOKEN=1",
            "lib.py": "",
        },
    )
    listed = teal_cli("package", "--list", "--json", "--project", str(root))
    assert listed.code == 0, listed.err
    report = listed.json()
    assert [f["path"] for f in report["files"]] == ["app.py", "lib.py"]
    assert report["excluded"] == [
        {"path": ".env", "source": "teal's defaults", "pattern": ".env"},
        {"path": ".gitignore", "source": "teal's defaults", "pattern": ".gitignore"},
        {"path": "fixtures/", "source": "teal.toml [app] exclude", "pattern": "fixtures/"},
        {"path": "server.log", "source": ".gitignore", "pattern": "*.log"},
        {"path": "teal.toml", "source": SETTINGS, "pattern": None},
    ]
    human = teal_cli("package", "--list", "--project", str(root))
    assert human.code == 0, human.err
    assert "left out of the code zip (5):" in human.out
    assert "server.log  .gitignore ('*.log')" in human.out
    out = tmp_path / "out"
    exported = teal_cli("package", "--out", str(out), "--json", "--project", str(root))
    assert exported.code == 0, exported.err
    cache = {"path": "__pycache__/", "source": "teal's defaults", "pattern": "__pycache__/"}
    assert [e for e in exported.json()["excluded"] if e != cache] == report["excluded"]
    written = teal_cli("package", "--out", str(out), "--project", str(root))
    assert written.code == 0, written.err
    assert re.search(r"\n  fixtures/ +teal\.toml \[app\] exclude \('fixtures/'\)\n", written.out)


LINES = st.sampled_from(
    ["*.log", "!keep.log", "build/", "/top", "a/**/b", "**/cache", "x?", "[ab]*.txt", "!*.txt"]
) | st.sampled_from(["docs/*.md", "!docs/", "# note", "", "*.py[cod]", "deep/er/", "\\#hash"])
SEGMENT = st.sampled_from(["a", "b", "build", "top", "x1", "keep.log", "c.log", "cache", "docs"])
SEGMENT |= st.sampled_from(["r.md", "t.txt", "m.pyc", "deep", "er", "#hash", "name"])


@given(
    lines=st.lists(LINES, max_size=8),
    parts=st.lists(SEGMENT, min_size=1, max_size=4),
    is_dir=st.booleans(),
)
def test_one_search_per_layer_decides_as_pathspec_does(
    lines: list[str], parts: list[str], is_dir: bool
) -> None:
    """A layer asks pathspec only when its one combined expression matches: the answer
    is pathspec's own for every path."""
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    name = "/".join(parts) + ("/" if is_dir else "")
    found = spec.check_file(name)
    expected = None if found.include is None else found.include
    verdict = _Layer("test", "", spec).verdict(name)
    assert (None if verdict is None else verdict[0]) == expected


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
    assert [f["path"] for f in listed.json()["files"]] == ["app.py", "lib.py"]


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
