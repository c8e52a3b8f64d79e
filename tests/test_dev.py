"""teal dev's parts: which changes redeploy, and request lines with their function's lines."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from teal.cli.dev import Deployed, DevLoop, Printer, Relevant
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.gateway.traffic import RequestLine
from teal.ops.logs import LogLine
from test_template_support import make_target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for name in ("app.py", "teal.toml", "lib/util.py", "tests/test_app.py", "venv/x.py", "a.db"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / "env" / "pyvenv.cfg").parent.mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr")
    (root / "env" / "site.py").write_text("x")
    (root / ".tealignore").write_text("*.db\n")
    return root


def test_only_what_a_deploy_packages_or_reads_is_a_change(project: Path) -> None:
    relevant = Relevant(make_target(project_dir=project))
    changed = {
        name
        for name in (
            "app.py",
            "lib/util.py",
            "teal.toml",
            ".tealignore",
            "tests/test_app.py",
            "venv/x.py",
            "a.db",
            "__pycache__/app.cpython-312.pyc",
        )
        if relevant.file(None, str(project / name))
    }
    assert changed == {"app.py", "lib/util.py", "teal.toml", ".tealignore"}
    assert not relevant.file(None, "/elsewhere/app.py")


def test_what_git_ignores_is_no_change_but_a_gitignore_that_counts_is(project: Path) -> None:
    (project / ".gitignore").write_text("build/\n*.log\n")
    for name in ("build/out.js", "lib/server.log", "lib/.gitignore", "env/.gitignore"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    relevant = Relevant(make_target(project_dir=project))
    changed = {
        name
        for name in (
            ".gitignore",
            "lib/.gitignore",
            "env/.gitignore",  # a virtual environment's: never read
            "build/out.js",
            "lib/server.log",
            "lib/util.py",
        )
        if relevant.file(None, str(project / name))
    }
    assert changed == {".gitignore", "lib/.gitignore", "lib/util.py"}


def test_a_symlink_loop_saved_in_the_project_is_no_change(project: Path) -> None:
    """The deploy it would start refuses the loop by name; the watcher does not stop."""
    relevant = Relevant(make_target(project_dir=project))
    (project / "loop").symlink_to("loop")
    assert not relevant.file(None, str(project / "loop"))
    assert relevant.file(None, str(project / "app.py"))


def test_changes_saved_before_the_watcher_ran_are_found(project: Path) -> None:
    relevant = Relevant(make_target(project_dir=project))
    since = time.time()
    later = since + 5
    for name in ("lib/util.py", "tests/test_app.py", "env/site.py"):
        os.utime(project / name, (later, later))
    assert {Path(p).relative_to(project).as_posix() for _, p in relevant.changed_since(since)} == {
        "lib/util.py"
    }


def request_line(request_id: str, status: int = 200) -> RequestLine:
    return RequestLine(1.0, "api", "dev", "GET", "/x", status, 1.5, "blog-dev-posts-g1", request_id)


def log_line(request_id: str | None, message: str) -> LogLine:
    return LogLine(1_000, "posts", "blog-dev-posts-g1", request_id, message, "s", message)


def test_a_requests_lines_print_under_it_and_lone_lines_print_after_a_while(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printer = Printer(as_json=True)
    printer.logs([log_line("r1", "START RequestId: r1"), log_line("r1", "hello")], now=10.0)
    printer.logs([log_line("r2", "lonely")], now=10.0)
    assert capsys.readouterr().out == ""  # waiting for their request lines
    printer.requests("blog-dev", [request_line("r1", 500)])
    printer.expire(now=10.5)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in out] == ['{"event": "request"', '{"event": "log"']
    assert '"function": "posts"' in out[0] and '"status": 500' in out[0]
    assert '"message": "hello"' in out[1]
    printer.expire(now=12.0)  # r2's request line never came
    assert '"message": "lonely"' in capsys.readouterr().out


def test_the_loop_prints_only_its_environments_requests_answered_since_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gateway's first batch after teal dev asked may hold requests from just before."""
    monkeypatch.setenv("TEAL_HOME", str(tmp_path / "home"))
    cloud = LocalCloud()
    loop = DevLoop(make_target(project_dir=tmp_path), cloud, Printer(as_json=True))
    loop.deployed = Deployed("http://127.0.0.1/", frozenset({"mine"}))
    written = [
        RequestLine(loop.started - 0.2, "mine", "dev", "GET", "/before", 200, 1.0, "", "r1"),
        RequestLine(loop.started + 0.1, "mine", "dev", "GET", "/after", 200, 1.0, "", "r2"),
        RequestLine(loop.started + 0.1, "other", "dev", "GET", "/elsewhere", 200, 1.0, "", "r3"),
    ]
    cloud.paths.requests.parent.mkdir(parents=True, exist_ok=True)
    cloud.paths.requests.write_text("".join(json.dumps(r.to_json()) + "\n" for r in written))
    loop.tick()
    printed = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [event["path"] for event in printed if event["event"] == "request"] == ["/after"]
