"""Every teal command that teal's own messages tell a user to run exists, with the
options they name: a hint that names a command which is not there (or an option it
does not take) sends the user to a second error."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from teal.cli import cli

SRC = Path(__file__).resolve().parents[1] / "src" / "teal"

# "teal switch --to TARGET", "`teal local stop`", "teal logs --extra 2": a command,
# maybe a subcommand, and the options that follow it
COMMAND = re.compile(r"\bteal ((?:[a-z]+)(?: [a-z]+)?)((?: --[a-z-]+(?: [^ -][^ ]*)?)*)")


def texts_in(path: Path) -> Iterator[tuple[int, str, bool]]:
    """The string constants of a module (f-strings' literal parts joined with a space
    where a value goes: `teal logs{flags}` reads as `teal logs `), each with whether it
    is a hint (the value of a ``hint=`` argument)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hints = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "hint"
        for inner in ast.walk(node.value)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else " " for v in node.values]
            yield node.lineno, "".join(str(p) for p in parts), id(node) in hints
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value, id(node) in hints


def named_commands() -> Iterator[tuple[str, tuple[str, ...], str, bool]]:
    for path in sorted(SRC.rglob("*.py")):
        for line, text, is_hint in texts_in(path):
            for found in COMMAND.finditer(text):
                options = tuple(re.findall(r"--[a-z-]+", found.group(2)))
                yield found.group(1), options, f"{path.relative_to(SRC)}:{line}", is_hint


def resolve(words: str) -> click.Command | None:
    """The command ``words`` names, or None; a second word that is no subcommand is
    taken as an argument (``teal invoke posts``)."""
    first, _, second = words.partition(" ")
    command = cli.commands.get(first)
    if isinstance(command, click.Group) and second:
        return command.commands.get(second)
    return command


def told(words: str, is_hint: bool) -> bool:
    """Whether the text tells the user to run this, rather than speak of teal ("teal
    deploys", "the teal local cloud"): a command's name followed, outside hints, for a
    group, by one of its subcommands; in a hint also a near miss of a name ("teal
    rollbak")."""
    first, _, second = words.partition(" ")
    command = cli.commands.get(first)
    if command is None:
        verb = first.removesuffix("s") in cli.commands or first.removesuffix("es") in cli.commands
        near = difflib.get_close_matches(first, cli.commands, n=1, cutoff=0.8)
        return is_hint and bool(near) and not verb  # "teal deploys": prose
    return is_hint or not isinstance(command, click.Group) or second in command.commands


NAMED = sorted({(w, o, where) for w, o, where, hint in named_commands() if told(w, hint)})


def test_the_messages_name_commands_at_all() -> None:
    """The scan finds what it looks for (else the test below checks nothing)."""
    commands = {words.split()[0] for words, _, _ in NAMED}
    assert {"deploy", "switch", "logs", "unlock", "local", "preview"} <= commands


@pytest.mark.parametrize(("words", "options", "where"), NAMED, ids=[n[2] for n in NAMED])
def test_a_named_command_exists_with_its_options(
    words: str, options: tuple[str, ...], where: str
) -> None:
    command = resolve(words)
    assert command is not None, f"{where}: no command 'teal {words}'"
    taken = {opt for param in command.params for opt in param.opts}
    missing = [o for o in options if o not in taken]
    assert not missing, f"{where}: 'teal {words}' takes no {', '.join(missing)}"
