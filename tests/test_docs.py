"""The documentation site (docs/, mkdocs.yml) builds with no broken link, anchor or page,
and what its pages tell a user to type, teal takes: every `teal` command and option in
a shell block exists, the commands table names every command, and the examples of
"Writing an app" and "Configuration" are accepted as they are written."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE_BLOG
from runtime_here import RUNTIME

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def build_site(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[dev]'")
    # Material's notice about MkDocs 2.0 is not ours to print in every build
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_site_builds_strictly_with_every_page(tmp_path: Path) -> None:
    built = build_site(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr
    for page in DOCS.glob("*.md"):
        at = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert (tmp_path / "site" / at).is_file(), page.name
    # the home page takes the README's Quick start through snippets
    home = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "site" / "index.html").read_text()))
    assert "teal deploy --project examples/blog" in home
    assert "teal deploy --no-auto-replace" in home  # and its blue-green story


def test_a_broken_anchor_fails_the_build(tmp_path: Path) -> None:
    """The strictness is the configuration's (mkdocs only notes a missing anchor unless
    told otherwise): a link to a heading that is not there must stop the build."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(DOCS, tmp_path / "docs")
    with (tmp_path / "docs" / "commands.md").open("a") as page:
        page.write("\nSee [the limits](limits.md#no-such-heading).\n")
    built = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-heading" in built.stderr


def shell_blocks(page: Path) -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.*?)```", page.read_text(), flags=re.DOTALL)


def teal_calls() -> list[tuple[str, list[str]]]:
    """Every `teal ...` the shell blocks run, as (where, its words), up to a shell
    separator or comment; `$(teal url ...)` inside another command included."""
    calls = []
    for page in PAGES:
        for block in shell_blocks(page):
            for line in block.splitlines():
                for words in re.findall(r"(?:^|[\s(;&|])teal\s+([^|;&)#\n]*)", line):
                    calls.append((f"{page.name}: {line.strip()}", words.split()))
    return calls


def help_of(teal_cli: Callable[..., Any], command: list[str]) -> str:
    shown = teal_cli(*command, "--help")
    assert shown.code == 0, (command, shown.err)
    return str(shown.out)


GROUPS = (
    "local",
    "domain",
    "aws",
    "ci",
    "secrets",
)  # commands of two words: `local start`, `aws policy`


def command_of(words: list[str]) -> list[str]:
    """`local start` is a command of the `local` group; every other is one word."""
    return words[:2] if words[0] in GROUPS else words[:1]


def options_in(text: str) -> set[str]:
    return {o.split("=")[0] for o in re.findall(r"(?<![\w-])--[a-z][\w-]*", text)}


def takes_option(help_text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def test_every_teal_command_the_pages_show_exists_with_its_options(
    teal_cli: Callable[..., Any],
) -> None:
    calls = teal_calls()
    assert len(calls) > 20  # the Quick start, the story, Debugging, Safer switches...
    wrong = []
    for where, words in calls:
        command = command_of(words)
        shown = teal_cli(*command, "--help")
        if shown.code != 0:
            wrong.append(f"{where}: no command `teal {' '.join(command)}`")
            continue
        wrong += [
            f"{where}: `teal {' '.join(command)}` takes no {option}"
            for option in options_in(" ".join(words))
            if not takes_option(shown.out, option)
        ]
    assert wrong == []


def table_rows() -> list[str]:
    """The first cells of the commands table (docs/commands.md)."""
    section = (DOCS / "commands.md").read_text().split("## Exit codes")[0]
    return [row.split(" | ")[0] for row in section.splitlines() if row.startswith("| `teal ")]


def commands_in_help(teal_cli: Callable[..., Any]) -> set[str]:
    listing = help_of(teal_cli, []).split("Commands:", 1)[1]
    return set(re.findall(r"^  ([a-z]+)\s", listing, flags=re.MULTILINE))


def test_the_commands_table_names_every_command_and_only_real_options(
    teal_cli: Callable[..., Any],
) -> None:
    rows = table_rows()
    named = {re.findall(r"^\| `teal ([a-z]+)", row)[0] for row in rows}
    assert named == commands_in_help(teal_cli)
    wrong = []
    for row in rows:
        words = re.match(r"\| `teal ([a-z]+)(?: ([a-z/]+))?", row)
        assert words is not None
        commands = (
            [[words[1], sub] for sub in words[2].split("/")] if words[1] in GROUPS else [[words[1]]]
        )
        for command in commands:
            text = help_of(teal_cli, command)
            wrong += [f"{row}: {o}" for o in options_in(row) if not takes_option(text, o)]
    assert wrong == []


def test_init_writes_each_template_the_docs_name(
    tmp_path: Path, teal_cli: Callable[..., Any]
) -> None:
    row = next(r for r in table_rows() if r.startswith("| `teal init"))
    templates = re.search(r"--template ([\w\\|]+)", row)
    assert templates is not None
    for template in templates[1].split("\\|"):
        created = teal_cli("init", str(tmp_path / template), "--template", template)
        assert created.code == 0, (template, created.err)
        assert f'runtime = "{RUNTIME}"' in (tmp_path / template / "teal.toml").read_text()


def code_block(page: str, language: str) -> str:
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)[0]


def test_the_first_example_of_writing_an_app_gives_its_routes(
    tmp_path: Path, teal_cli: Callable[..., Any]
) -> None:
    (tmp_path / "app.py").write_text(code_block("writing-apps.md", "python"))
    (tmp_path / "teal.toml").write_text(
        f'[app]\nname = "posts"\nentry = "app:app"\nruntime = "{RUNTIME}"\n'
    )
    listed = teal_cli("routes", "--project", str(tmp_path), "--json")
    assert listed.code == 0, listed.err
    routes = {(r["path"], tuple(r["methods"]), r["function"]) for r in listed.json()["routes"]}
    assert routes == {
        ("/posts/{id}", ("GET", "DELETE"), "show_post"),
        ("/posts", ("POST",), "create_post"),
    }


def test_the_configuration_example_is_a_teal_toml_teal_takes(
    tmp_path: Path, teal_cli: Callable[..., Any]
) -> None:
    """The page's teal.toml with the blog example's app (it has a `posts` function); only
    the runtime is this machine's, as `teal init` would write it."""
    config = code_block("configuration.md", "toml")
    (tmp_path / "teal.toml").write_text(
        re.sub(r'runtime = "python3\.\d+"', f'runtime = "{RUNTIME}"', config)
    )
    shutil.copy(EXAMPLE_BLOG / "app.py", tmp_path)
    written = teal_cli("template", "--project", str(tmp_path), "--out", str(tmp_path / "out"))
    assert written.code == 0, written.err
    template = json.loads((tmp_path / "out" / "blog-dev.template.json").read_text())
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    memory = {f["Environment"]["Variables"]["TEAL_FUNCTION"]: f["MemorySize"] for f in functions}
    assert memory["posts"] == 1024 and memory["health"] == 256  # [functions.posts], [app]
    assert all(f["Environment"]["Variables"]["GREETING"] == "hello" for f in functions)
