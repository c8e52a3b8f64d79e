"""Importing the user's app module, with errors reported as the user's errors.

teal's stdout belongs to its results (``--json`` prints one object there), so
whatever the app prints while it is imported goes to stderr, and an app that
exits during import is the user's error, not the end of the command.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from teal.app import App
from teal.config import CONFIG_FILE, check_function_tables, load_project
from teal.errors import AppLoadError
from teal.routes import RouteTable, quota_warnings

# Warnings for the user (the CLI prints them on stderr; see teal.cli.common).
warnings_log = logging.getLogger("teal.warnings")


def load_app(project_dir: Path, entry: str) -> App:
    """Import ``module:attribute`` from the project folder and return its App."""
    root = project_dir.resolve()
    module_name, _, attribute = entry.partition(":")
    _forget_project_modules(root, module_name)
    sys.path.insert(0, str(root))
    try:
        with _output_to_stderr():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(
                f"module {module_name!r} not found in {root}",
                where="teal.toml [app] entry",
                hint=f"check that {module_name.replace('.', '/')}.py exists, or fix 'entry'",
            ) from exc
        raise _user_code_error(exc, root) from exc
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else module_name
        raise AppLoadError(f"syntax error: {exc.msg}", where=where) from exc
    except SystemExit as exc:
        raise _exit_error(exc, root) from exc
    except Exception as exc:
        raise _user_code_error(exc, root) from exc
    finally:
        sys.path.remove(str(root))
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise AppLoadError(
            f"{entry} is not a teal App (found {type(app).__name__})",
            where="teal.toml [app] entry",
            hint="create it with `app = App()` and point 'entry' at it",
        )
    return app


def load_routes(project_dir: Path, entry: str) -> RouteTable:
    """The app's validated route table (raises RouteError naming every bad route).

    Every command that reads the app comes through here, so this is also where
    teal.toml's per-function tables are checked against the app's functions:
    the first moment both are known.
    """
    table = load_app(project_dir, entry).routes()
    if not table.routes:
        raise AppLoadError(
            f"{entry} has no routes", hint="add handlers with @app.route(path, methods=[...])"
        )
    if (project_dir / CONFIG_FILE).is_file():
        check_function_tables(load_project(project_dir), table.functions.keys())
    for warning in quota_warnings(table):
        warnings_log.warning("%s", warning)
    return table


# What the user is told about how teal imports the app: it is true of both
# clouds, where each function imports the module before its first request.
_IMPORTED_AS = (
    "teal imports your module to read its routes, as each deployed function does "
    "before its first request"
)


def _user_code_error(exc: BaseException, root: Path) -> AppLoadError:
    where = _deepest_user_frame(exc, root)
    return AppLoadError(
        f"importing the app failed: {type(exc).__name__}: {exc}",
        where=where,
        hint=f"fix the error at {where} (the deepest line of your code); {_IMPORTED_AS}",
    )


def _exit_error(exc: SystemExit, root: Path) -> AppLoadError:
    where = _deepest_user_frame(exc, root)
    return AppLoadError(
        f"the app exited during import (SystemExit: {exc.code!r})",
        where=where,
        hint=f"do not call sys.exit() or exit() at module level (found at {where}); "
        f"{_IMPORTED_AS}, and an exit there stops the function",
    )


def _deepest_user_frame(exc: BaseException, root: Path) -> str:
    """``file:line`` of the deepest frame in the project, outside installed packages."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).is_relative_to(root) and "site-packages" not in Path(f.filename).parts
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(root)


@contextlib.contextmanager
def _output_to_stderr() -> Iterator[None]:
    """Send what the app prints while it is imported to stderr, Python's and C's alike.

    ``sys.stdout`` is swapped for ``sys.stderr``; file descriptor 1 is pointed
    at descriptor 2 as well, for code that writes to it directly
    (``os.write(1, ...)``, C extensions). Both are restored however the import ends.
    """
    _flush_all()
    saved_fd = _redirect_fd(1, to=2)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush_all()
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def _redirect_fd(fd: int, *, to: int) -> int | None:
    """Point ``fd`` at ``to``; a copy of the old ``fd`` to restore, None if there is none."""
    try:
        saved = os.dup(fd)
    except OSError:  # closed (a daemon, an embedding host): nothing to protect
        return None
    try:
        os.dup2(to, fd)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush_all() -> None:
    """Flush Python's streams and C's stdio buffers, so no output crosses the switch."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        # fflush(NULL) flushes every C stream: a printf() buffered during the
        # import would otherwise reach the real stdout later, after the switch back.
        ctypes.CDLL(None).fflush(None)


def _forget_project_modules(root: Path, module_name: str) -> None:
    """Drop modules imported earlier from this (or another) project, so edits are seen."""
    top = module_name.split(".", maxsplit=1)[0]
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        same_name = name == top or name.startswith(top + ".")
        in_project = bool(file) and Path(str(file)).resolve().is_relative_to(root)
        if (same_name or in_project) and not name.startswith("teal"):
            del sys.modules[name]
