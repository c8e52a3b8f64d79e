"""Every command in the documented command table, run down its failure paths: the exit
code is the one the exit-code table promises (2 bad input, nothing changed; 1 the
operation ran and failed), and with --json the error's kind says the same.

A command added to the table without cases here fails the first test, so no command's
exit codes go unchecked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conftest import run_teal_subprocess
from e2e import REPO, LocalCloudEnv, Run, get

KIND_OF_CODE = {1: "failed", 2: "bad-input"}


def documented_commands() -> set[str]:
    """The commands the table of commands lists (README or the docs pages)."""
    row = re.compile(r"^\| `teal (\w+)")
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    return {
        found.group(1)
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if (found := row.match(line))
    }


@dataclass(frozen=True)
class Case:
    command: str  # as the table names it
    args: tuple[str, ...]
    code: int
    says: str  # in the error's what (or stderr when there is no --json)
    hint: str = ""  # in the error's hint: the command that helps, with its flags


def case(code: int, says: str, *args: str, hint: str = "") -> Case:
    return Case(args[0], args, code, says, hint)


# Run in order against one deployed blog; the comments say what each case relies on.
CASES = [
    case(2, "no such option", "routes", "--cloud", "nowhere", "--json"),
    case(2, "invalid env", "template", "--env", "no such env", "--json"),
    case(2, "invalid extra", "plan", "--extra", "?", "--json"),
    case(2, "does not exist", "url", "--extra", "9", "--json"),
    case(2, "does not exist", "check", "--extra", "9", "--json"),
    case(2, "does not exist", "switch", "--to", "9", "--json"),
    case(2, "watch", "switch", "--to", "2", "--watch", "soon", "--json"),
    case(2, "does not exist", "preview", "--to", "9", "--json"),
    case(2, "--to", "preview", "--json"),
    case(2, "--since", "logs", "--since", "last tuesday", "--json"),
    case(2, "no function 'nope'", "invoke", "nope", "--json"),
    case(1, "", "invoke", "boom", "--json"),  # the handler raised: a 500 answer
    case(2, "not a path", "invoke", "posts", "--path", "posts", "--json"),
    case(2, "no queue", "send", "nope", "hello", "--json"),
    case(2, "local cloud", "dev", "--cloud", "aws"),
    case(2, "local", "local", "nowhere"),
    case(2, "is not a reference", "secrets", "set", "blog/db-url", "v", "--json"),
    case(2, "no such option", "console", "--cloud", "aws", "--json"),
    case(2, "account id", "aws", "policy", "--account", "12", "--json"),
    case(2, "'gitlab' is not 'github'", "ci", "init", "gitlab", "--json"),
    case(2, "invalid value for '--cloud'", "status", "--cloud", "nowhere", "--json"),
    case(2, "invalid value for '--cloud'", "domains", "--cloud", "nowhere", "--json"),
    case(2, "no custom domain", "domain", "delete", "nope.example.test", "--yes", "--json"),
    case(1, "still maps /", "domain", "delete", "blog.example.com", "--yes", "--json"),
    case(2, "invalid env", "unlock", "--env", "?", "--json"),
    case(2, "is a file", "package", "--out", "{project}/app.py", "--json"),
    case(1, "live", "delete", "--yes", "--json"),  # the live one: refused
    case(1, "no earlier switch", "rollback", "--json"),  # no switch yet
    case(0, "", "deploy", "--extra", "2", "--yes", "--json"),  # a copy to switch to
    # a check that fails from here on
    case(1, "", "check", "--json"),
    case(1, "check", "switch", "--to", "2", "--json", hint="teal logs --extra 2"),
    case(1, "check", "deploy", "--yes", "--json"),  # a replacement: its re-point is checked
]


def test_every_documented_command_has_its_failure_paths_checked() -> None:
    covered = {c.command for c in CASES} | {"init"}  # init runs outside a project
    assert documented_commands() == covered


def test_each_failure_path_exits_as_the_table_says(local_cloud: LocalCloudEnv) -> None:
    app = local_cloud.project / "app.py"
    app.write_text(
        app.read_text() + '\n\n@app.route("/boom")\ndef boom(request):\n    return 1 / 0\n'
    )
    domain_url = local_cloud.teal_ok("deploy", "--json").json()["domain"]["url"]
    wrong: list[str] = []
    for one in CASES:
        if one.args == ("check", "--json"):
            break_the_checks(local_cloud.project / "teal.toml")
        if one.args == ("deploy", "--yes", "--json"):
            for path in ('"/posts/{id}"', '"/posts/{id}/comments"'):  # a new API
                local_cloud.edit_app(path, path.replace("{id}", "{post_id}"))
        args = [arg.format(project=local_cloud.project) for arg in one.args]
        wrong += mismatch(one, local_cloud.teal(*args))
    wrong += init_failure(local_cloud.project.parent)
    assert not wrong, "\n".join(wrong)
    # the failed replacement left the old API behind the domain, its old route serving
    assert get(domain_url.rstrip("/") + "/posts/1")[0] == 200


def break_the_checks(toml: Path) -> None:
    toml.write_text(toml.read_text() + '\n[[checks]]\npath = "/nope"\nstatus = 200\n')


def mismatch(one: Case, run: Run) -> list[str]:
    shown = f"teal {' '.join(one.args)}: exit {run.code}"
    if run.code != one.code:
        return [f"{shown}, want {one.code}\n{run.err[-600:]}"]
    if one.code == 0:
        return []
    if "--json" not in one.args:
        return [] if one.says.lower() in run.err.lower() else [f"{shown}: {run.err[-300:]!r}"]
    answer = run.json()
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):  # a command that reports its own failure (invoke, check)
        return [] if one.code == 1 and answer.get("failed", True) else [f"{shown}: {answer}"]
    problems = []
    if (error["kind"], answer["exit_code"]) != (KIND_OF_CODE[one.code], one.code):
        problems.append(f"{shown}: kind {error['kind']}, exit_code {answer['exit_code']}")
    if one.says.lower() not in error["what"].lower() and one.says not in error["where"]:
        problems.append(f"{shown}: {error}")
    if one.hint not in (error["hint"] or ""):
        problems.append(f"{shown}: the hint lacks {one.hint!r}: {error}")
    if one.code == 2 and not (error["where"] and error["hint"]):
        problems.append(f"{shown}: bad input without where or hint: {error}")
    return problems


def init_failure(parent: Path) -> list[str]:
    taken = parent / "taken"
    taken.mkdir()
    (taken / "teal.toml").write_text("")
    run = run_teal_subprocess("init", str(taken), cwd=parent)
    return [] if run.code == 2 and "already exists" in run.err else [f"teal init: {run}"]
