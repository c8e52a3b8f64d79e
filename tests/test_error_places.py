"""Every bad input says where it is and what to do: ``--json`` gives ``where`` and ``hint``.

Two nets. The first holds the error classes: every kind of bad input (each
subclass of ``UserError``, wherever it is defined) takes a where and a hint,
required or supplied by the class, so that an error written without them
does not run (mypy refuses it first). The second is a corpus of bad
projects, configs, flags and variables, each given to the CLI as a user
would, whose answer must be exit 2 with a non-empty ``where`` and ``hint``.
A new kind of bad input belongs in the corpus.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_TOML
from e2e import Run
from teal.runtime.errors import UserError
from test_layering import module_files

# What each kind of bad input is made with in the first net, by parameter name.
SAMPLE_ARGUMENTS: dict[str, Any] = {
    "what": "something is wrong",
    "problems": ["a problem"],
    "where": "a place",
    "hint": "what to do",
}
NOT_IMPORTED = {"teal.__main__"}  # runs the CLI when imported


def bad_input_kinds() -> Iterator[type[UserError]]:
    """UserError and every subclass of it in teal's modules."""
    for name in sorted(set(module_files()) - NOT_IMPORTED):
        importlib.import_module(name)
    pending: list[type[UserError]] = [UserError]
    while pending:
        kind = pending.pop()
        yield kind
        pending.extend(kind.__subclasses__())


@pytest.mark.parametrize("kind", sorted(bad_input_kinds(), key=lambda k: k.__qualname__))
def test_every_kind_of_bad_input_takes_a_where_and_a_hint(kind: type[UserError]) -> None:
    parameters = inspect.signature(kind).parameters
    required = {n: p for n, p in parameters.items() if p.default is inspect.Parameter.empty}
    unknown = set(required) - set(SAMPLE_ARGUMENTS)
    assert not unknown, f"{kind.__qualname__}: give SAMPLE_ARGUMENTS a value for {unknown}"
    made = kind(**{name: SAMPLE_ARGUMENTS[name] for name in required})
    assert made.where and made.hint, kind.__qualname__
    for name in ("where", "hint"):
        if name not in parameters:
            continue  # the class supplies it (checked on the instance above)
        default = parameters[name].default
        assert default is inspect.Parameter.empty or (isinstance(default, str) and default), (
            f"{kind.__qualname__}: {name} must be required, or default to words"
        )
        if default is inspect.Parameter.empty:
            left_out = {n: SAMPLE_ARGUMENTS[n] for n in required if n != name}
            with pytest.raises(TypeError):
                kind(**left_out)


# ---------------------------------------------------------------- the corpus

HELLO = """\
from teal import App

app = App()

@app.route("/hello")
def hello(request):
    return "hi"
"""


@dataclass(frozen=True)
class Case:
    """A bad project (files over the minimal one), what is run on it, and what ``where``
    must hold besides being there."""

    args: tuple[str, ...] = ("routes",)
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    where: tuple[str, ...] = ()  # fragments of where; "{root}" is the project folder
    links: dict[str, str] = field(default_factory=dict)  # name -> symlink target
    remove: tuple[str, ...] = ()


def app_with(*lines: str) -> dict[str, str | bytes]:
    return {"app.py": HELLO + "\n" + "\n".join(lines) + "\n"}


def toml_with(extra: str) -> dict[str, str | bytes]:
    return {"teal.toml": MINIMAL_TOML + textwrap.dedent(extra)}


ROUTE = ("{root}/app.py:", "(route '", "handler app:")
CORPUS: dict[str, Case] = {
    # teal.toml and the settings around it
    "no teal.toml": Case(remove=("teal.toml",), where=("{root}",)),
    "TOML syntax": Case(files={"teal.toml": "[app\nname = 1\n"}, where=("teal.toml:1",)),
    "teal.toml not UTF-8": Case(
        files={"teal.toml": b'[app]\nname = "d\xe9mo"\n'}, where=("teal.toml:2",)
    ),
    "unknown key": Case(files=toml_with("nmae = 1\n"), where=("teal.toml:5",)),
    "quoted memory": Case(
        files={"teal.toml": MINIMAL_TOML.replace('runtime = "python3.11"', 'memory = "512"')},
        where=("teal.toml:4",),
    ),
    "nested 100,000 deep": Case(
        files=toml_with(f"deep = {'[' * 100_000}{']' * 100_000}\n"), where=("teal.toml:5",)
    ),
    "bad --env": Case(args=("routes", "--env", "Prod!"), where=("--env",)),
    "bad TEAL_EXTRA": Case(args=("template",), env={"TEAL_EXTRA": "Two"}, where=("TEAL_EXTRA",)),
    "unknown TEAL_CLOUD": Case(
        args=("template",), env={"TEAL_CLOUD": "mars"}, where=("TEAL_CLOUD",)
    ),
    "bad TEAL_LOCAL_PORT": Case(
        args=("deploy",), env={"TEAL_LOCAL_PORT": "80"}, where=("TEAL_LOCAL_PORT",)
    ),
    "bad TEAL_IMPORT_TIMEOUT": Case(
        env={"TEAL_IMPORT_TIMEOUT": "soon"}, where=("TEAL_IMPORT_TIMEOUT",)
    ),
    "a function table naming no function": Case(
        files=toml_with("[functions.nope]\nmemory = 512\n"), where=("teal.toml:5",)
    ),
    "variables over 4 KB": Case(
        args=("template",),
        files=toml_with(f'[app.environment]\nBIG = "{"x" * 4100}"\n'),
        where=("teal.toml:5",),
    ),
    "missing [resources] template": Case(
        args=("template",),
        files=toml_with('[resources]\ntemplate = "nope.yaml"\n'),
        where=("teal.toml:5",),
    ),
    "[resources] template without Resources": Case(
        args=("template",),
        files={**toml_with('[resources]\ntemplate = "extra.json"\n'), "extra.json": "{}"},
        where=("extra.json",),
    ),
    "[resources] resource without Type": Case(
        args=("template",),
        files={
            **toml_with('[resources]\ntemplate = "extra.yaml"\n'),
            "extra.yaml": "Resources:\n  Table:\n    Properties: {}\n",
        },
        where=("extra.yaml:",),
    ),
    # the app's module
    "syntax error": Case(files={"app.py": "def broken(:\n"}, where=("{root}/app.py:1",)),
    "no such module": Case(
        files={"teal.toml": MINIMAL_TOML.replace('"app:app"', '"nope:app"')},
        where=("[app] entry",),
    ),
    "entry names no app": Case(files={"app.py": "app = 3\n"}, where=("[app] entry",)),
    "no routes": Case(
        files={"app.py": "from teal import App\napp = App()\n"}, where=("{root}/app.py",)
    ),
    "raises at import": Case(files=app_with("1 / 0"), where=("{root}/app.py:9",)),
    "sys.exit at import": Case(files=app_with("import sys", "sys.exit(3)"), where=("app.py:10",)),
    "os._exit at import": Case(files=app_with("import os", "os._exit(3)"), where=("app.py:10",)),
    "missing requirement": Case(files=app_with("import not_installed_anywhere")),
    # routes
    "bad path": Case(
        files=app_with("@app.route('/a//b')", "def ab(request):", "    return 1"), where=ROUTE
    ),
    "duplicate route": Case(
        files=app_with("@app.route('/hello')", "def again(request):", "    return 1"),
        where=("{root}/app.py:9 (route '/hello', handler app:again)",),
    ),
    "two variables under one parent": Case(
        files=app_with(
            "@app.route('/x/{a}')",
            "def a(request):",
            "    return 1",
            "@app.route('/x/{b}/c')",
            "def b(request):",
            "    return 1",
        ),
        where=ROUTE,
    ),
    "raw and plain in one function": Case(
        files=app_with(
            "@app.route('/raw', raw=True, function='hello')",
            "def raw(event, context):",
            "    return {}",
        ),
        where=ROUTE,
    ),
    "unknown authorizer": Case(
        files=app_with("@app.route('/p', authorizer='jwt')", "def p(request):", "    return 1"),
        where=ROUTE,
    ),
    "bad function name": Case(
        files=app_with("@app.route('/f', function='1st')", "def f(request):", "    return 1"),
        where=ROUTE,
    ),
    "bad cors": Case(
        files=app_with("@app.route('/c', cors=3)", "def c(request):", "    return 1"), where=ROUTE
    ),
    "authorizer sharing a route's function": Case(
        files=app_with(
            "@app.authorizer('jwt', function='hello')",
            "def check(event, context):",
            "    return {}",
        ),
        where=("{root}/app.py:9 (authorizer 'jwt', handler app:check)",),
    ),
    # schedules and queues
    "bad schedule": Case(
        files=app_with("@app.schedule('rate(5 minute)')", "def tick(event, context):", "    pass"),
        where=("{root}/app.py:9 (schedule 'rate(5 minute)', handler app:tick)",),
    ),
    "queue by ARN, not shared": Case(
        files=app_with(
            "@app.on_sqs_message(queue='arn:aws:sqs:us-east-1:123456789012:jobs')",
            "def work(event, context):",
            "    pass",
        ),
        where=("{root}/app.py:9 (queue ",),
    ),
    # the files a package holds
    "symlink outside the project": Case(
        args=("template",), links={"secret": "/etc/hostname"}, where=("{root}/secret",)
    ),
    "symlink loop": Case(args=("template",), links={"loop": "loop"}, where=("{root}/loop",)),
    "requirements.txt not UTF-8": Case(
        files={"requirements.txt": b"caf\xe9\n"}, where=("requirements.txt:1",)
    ),
    ".tealignore not UTF-8": Case(
        args=("template",), files={".tealignore": b"\xff\n"}, where=(".tealignore:1",)
    ),
    "a package named teal": Case(
        args=("template",), files={"teal/data.txt": "x"}, where=("{root}/teal",)
    ),
    # flags and commands
    "empty --env": Case(args=("routes", "--env", ""), where=("--env",)),
    "unknown option": Case(args=("routes", "--nope"), where=("--nope",)),
    "missing --to": Case(args=("switch",), where=("--to",)),
    "unknown command": Case(args=("frobnicate",), where=("teal",)),
    "--against a file that is not a template": Case(
        args=("plan", "--against", "{root}/app.py"), where=("{root}/app.py",)
    ),
    "delete without --yes and no terminal": Case(args=("delete",), where=("--yes",)),
    "an event that is not UTF-8": Case(
        args=("invoke", "hello", "--event", "{root}/event.json"),
        files={"event.json": b'{"x": "\xff"}'},
        where=("{root}/event.json",),
    ),
    "an event that is not JSON": Case(
        args=("invoke", "hello", "--event", "{root}/event.json"),
        files={"event.json": "{"},
        where=("{root}/event.json",),
    ),
    "an environment never deployed": Case(args=("url",), where=("demo-dev",)),
}


def lay_out(root: Path, case: Case) -> None:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for name, target in case.links.items():
        (root / name).symlink_to(target)
    for name in case.remove:
        (root / name).unlink()


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_bad_input_says_where_and_what_to_do(
    name: str,
    make_project: Callable[..., Path],
    teal_cli: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CORPUS[name]
    root = make_project(HELLO)
    lay_out(root, case)
    for variable, value in case.env.items():
        monkeypatch.setenv(variable, value)
    args = [arg.replace("{root}", str(root)) for arg in case.args]
    result = teal_cli(*args, "--json", "--project", str(root))
    assert result.code == 2, result.err
    error = result.json()["error"]
    assert error["kind"] == "bad-input", error
    assert error["where"] and error["hint"], error
    for fragment in case.where:
        assert fragment.replace("{root}", str(root)) in error["where"], error
