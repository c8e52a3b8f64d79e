"""The ``teal`` command: command groups, and errors turned into messages and exit codes
(the codes are :mod:`teal.cli.exits`'s)."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from teal._version import __version__
from teal.cli import project as project_commands
from teal.cli.common import emit_json, err_console
from teal.cli.exits import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Interrupted,
    Reported,
    exit_code_for,
)
from teal.runtime.errors import OperationError, TealError, UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="teal", message="%(prog)s %(version)s")
def cli() -> None:
    """teal deploys Python web apps to AWS Lambda + API Gateway, and makes every
    deploy a blue-green deploy.

    The default target is the embedded local cloud (no AWS account needed);
    set `cloud = "aws"` in teal.toml or pass --cloud aws for AWS.

    Exit codes: 0 done, 1 the operation ran and failed, 2 bad input (nothing
    was changed).
    """


project_commands.register(cli)


def _register_optional() -> None:
    """Command modules that later parts of teal add; each exposes ``register(group)``."""
    import importlib

    for name in (
        "plan",
        "local",
        "deploy",
        "bluegreen",
        "domains",
        "package",
        "send",
        "logs",
        "invoke",
        "dev",
        "console",
        "aws",
        "ci",
        "secrets",
    ):
        try:
            module = importlib.import_module(f"teal.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"teal.cli.{name}":
                raise
            continue
        module.register(cli)


_register_optional()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn teal's errors into messages and exit codes."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        code = cli.main(args=args, prog_name="teal", standalone_mode=False)
        if isinstance(code, int):
            return code
    except TealError as error:
        label = "error" if isinstance(error, UserError) else "failed"
        err_console.print(f"[bold red]{label}:[/] {escape(error.render())}")
        return _failed(args, exit_code_for(error), error.what, error.where, error.hint)
    except Reported:
        return EXIT_FAILED
    except Interrupted:
        return EXIT_INTERRUPTED
    except click.exceptions.Abort as abort:
        # click turns a Ctrl-C into Abort: an interruption (what the command ran, an
        # import, a lock, a history entry, was ended or released on the way out), not
        # the "no" to a question that aborts a command
        if _by_ctrl_c(abort):
            err_console.print("interrupted (Ctrl-C)")
            return _failed(args, EXIT_INTERRUPTED, "interrupted (Ctrl-C)", None, None)
        err_console.print("aborted")
        return _failed(args, EXIT_FAILED, "aborted", None, None)
    except click.ClickException as error:
        error.show()
        code = EXIT_BAD_INPUT if error.exit_code == 2 else error.exit_code
        where, hint = _usage_where(error, args), _usage_hint(error)
        return _failed(args, code, error.format_message(), where, hint)
    except click.exceptions.Exit as done:
        return done.exit_code
    return EXIT_OK


def _usage_where(error: click.ClickException, args: list[str]) -> str:
    """The flag or argument a usage error is about, else the command it was given to."""
    if isinstance(error, click.BadParameter | click.MissingParameter):
        if error.param_hint is not None:
            hints = error.param_hint
            return hints if isinstance(hints, str) else " / ".join(hints)
        if error.param is not None:  # click quotes each name: '--env' / '-e'
            return error.param.get_error_hint(error.ctx).replace("'", "")
    if isinstance(error, click.NoSuchOption | click.BadOptionUsage):
        return error.option_name
    return _command_path(error, args)


def _usage_hint(error: click.ClickException) -> str:
    return f"run `{_command_path(error, [])} --help` for its options and arguments"


def _command_path(error: click.ClickException, args: list[str]) -> str:
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        return str(ctx.command_path)
    return " ".join(["teal", *args[:1]])


def _by_ctrl_c(abort: click.exceptions.Abort) -> bool:
    return isinstance(abort.__cause__ or abort.__context__, KeyboardInterrupt)


def _failed(args: list[str], code: int, what: str, where: str | None, hint: str | None) -> int:
    """With --json, a failure is still one JSON object on stdout, for scripts."""
    if "--json" in args:
        kinds = {EXIT_BAD_INPUT: "bad-input", EXIT_INTERRUPTED: "interrupted"}
        kind = kinds.get(code, "failed")
        error = {"kind": kind, "what": what, "where": where, "hint": hint}
        emit_json({"error": error, "exit_code": code})
    return code


def run() -> None:
    sys.exit(main())


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "OperationError", "cli", "main", "run"]
