"""``teal secrets set|list|rm``: the local cloud's Parameter Store and Secrets Manager.

teal.toml refers to values (``DB_URL = { ssm = "/blog/db-url" }``); on AWS they
live in Parameter Store and Secrets Manager, locally in a store of the local
cloud's home that only its owner may read (``$TEAL_HOME/secrets.json``). These
commands keep that store. No command prints a value: ``list`` names the
references and where teal.toml uses them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from teal.cli.common import accepts_project, console, emit_json, json_option
from teal.cloud.local import LocalPaths, remove_secret, secret_refs, secrets_file, set_secret
from teal.ops.secret_refs import referenced
from teal.project.config import CONFIG_FILE, load_project, resolve_target
from teal.project.secret_refs import VALUE_LIMITS, parse_ref
from teal.runtime.errors import TealError, UserError

READ_STDIN = "-"


@click.group()
def secrets() -> None:
    """Values teal.toml refers to ({ ssm = "/name" }, { secret = "name" }), kept for the
    local cloud in $TEAL_HOME, readable by you alone. On AWS they live in Parameter
    Store and Secrets Manager."""


@secrets.command(name="set")
@click.argument("ref")
@click.argument("value", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the value from this file.",
)
@json_option
@accepts_project
def set_command(ref: str, value: str | None, from_file: Path | None, as_json: bool) -> None:
    """Keep VALUE as REF's (ssm:/NAME or secret:NAME); '-' reads it from standard input.

    A secret's value is its whole SecretString: JSON when teal.toml picks keys of it.
    One trailing newline of a file or of standard input is left out. Workers that use
    the value start afresh at their next request.
    """
    reference = parse_ref(ref, where="REF")
    text = _value(value, from_file)
    _check_value(reference.kind, text, reference.ref)
    created = set_secret(LocalPaths.default(), reference.ref, text)
    if as_json:
        emit_json({"ref": reference.ref, "created": created, "store": str(_store())})
        return
    verb = "stored" if created else "replaced"
    console.print(
        f"{verb} {escape(reference.ref)} in the local cloud's secrets store; functions that use "
        "it get the value at their next cold start"
    )


def _value(value: str | None, from_file: Path | None) -> str:
    if value is not None and from_file is not None:
        raise UserError(
            "give the value once: as VALUE or with --from-file, not both",
            where="teal secrets set",
            hint="drop VALUE, or drop --from-file",
        )
    if from_file is not None:
        try:
            return _one_newline_less(from_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"cannot read the value from {from_file}: {exc.__class__.__name__}",
                where="--from-file",
                hint="name a readable UTF-8 text file",
            ) from None
    if value == READ_STDIN:
        return _one_newline_less(sys.stdin.read())
    if value is None:
        raise UserError(
            "no value given",
            where="teal secrets set",
            hint="pass the value, '-' to read it from standard input (keeps it out of your "
            "shell's history), or --from-file FILE",
        )
    return value


def _one_newline_less(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _check_value(kind: str, text: str, ref: str) -> None:
    """Refuse what Parameter Store or Secrets Manager would refuse (never quoting it)."""
    limit = VALUE_LIMITS[kind]
    size = len(text.encode("utf-8"))
    if not text:
        raise UserError(
            f"the value for {ref} is empty",
            where="VALUE",
            hint="Parameter Store and Secrets Manager hold no empty values: give one",
        )
    if size > limit:
        raise UserError(
            f"the value for {ref} has {size} bytes; at most {limit} fit",
            where="VALUE",
            hint="keep large data in a file of the project or in S3, and refer to it",
        )


@secrets.command(name="list")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The project whose teal.toml's references to show (default: this folder).",
)
@json_option
def list_command(project: Path, as_json: bool) -> None:
    """The references the store holds and those this project's teal.toml uses, with the
    variables that use them. Never a value."""
    held = set(secret_refs(LocalPaths.default()))
    used = _used_by(project)
    rows = [
        {"ref": ref, "set": ref in held, "used_by": used.get(ref, [])}
        for ref in sorted(held | set(used))
    ]
    if as_json:
        emit_json({"secrets": rows, "store": str(_store())})
        return
    if not rows:
        console.print("no secrets: teal secrets set REF VALUE keeps one")
    for ref in sorted(held | set(used)):
        state = "set" if ref in held else "NOT SET (teal secrets set)"
        uses = ", ".join(used.get(ref, [])) or "used by no variable of this project"
        console.print(f"{escape(ref)}  {state}  {escape(uses)}")


def _used_by(project_dir: Path) -> dict[str, list[str]]:
    """ref -> the teal.toml keys that refer to it (every env), when there is a teal.toml."""
    if not (project_dir / CONFIG_FILE).is_file():
        return {}
    try:
        project = load_project(project_dir)
    except TealError:
        return {}
    found: dict[str, list[str]] = {}
    envs = [None, *sorted(project.config.env)]
    for env in envs:
        target = resolve_target(project, env=env, environ={})
        for key, reference in referenced(target).items():
            place = _place(key, env)
            if place not in found.setdefault(reference.ref, []):
                found[reference.ref].append(place)
    return found


def _place(key: tuple[str, ...], env: str | None) -> str:
    table = ".".join(key[:-1])
    return f"[{table}] {key[-1]}" + (f" (env {env})" if env else "")


@secrets.command(name="rm")
@click.argument("ref")
@json_option
@accepts_project
def rm_command(ref: str, as_json: bool) -> None:
    """Forget REF's value (ssm:/NAME or secret:NAME)."""
    reference = parse_ref(ref, where="REF")
    if not remove_secret(LocalPaths.default(), reference.ref):
        raise UserError(
            f"the local cloud's secrets store holds no {reference.ref}",
            where="REF",
            hint="see what it holds with `teal secrets list`",
        )
    payload: dict[str, Any] = {"ref": reference.ref, "removed": True}
    if as_json:
        emit_json(payload)
        return
    console.print(f"removed {escape(reference.ref)} from the local cloud's secrets store")


def _store() -> Path:
    return secrets_file(LocalPaths.default())


def register(group: click.Group) -> None:
    group.add_command(secrets)
