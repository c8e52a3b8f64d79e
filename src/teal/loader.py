"""Reading the user's app: its routes, imported as a function would import it.

The app is imported in a child process running the runtime's Python, with
only what a function sees on Lambda: the project, its requirements, the
runtime's SDK and teal's runtime shim (see :mod:`teal.runtimes` and
:mod:`teal.runtime.introspect`). So an app whose dependencies are not
installed beside teal still deploys, and one that imports a package Lambda
would not have fails here, before anything is deployed.

teal's stdout belongs to its results (``--json`` prints one object there):
whatever the app prints while it is imported goes to stderr, and an app that
exits or crashes during import is the user's error (exit 2), named at the
deepest line of the user's own code.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teal.config import CONFIG_FILE, check_function_tables, load_project
from teal.errors import AppLoadError
from teal.package import runtime_shim
from teal.progress import Progress, quiet
from teal.routes import RouteSpec, RouteTable, build_route_table, quota_warnings
from teal.runtimes import RuntimeWorld, runtime_world
from teal.settings import runtimes_cache

# Warnings for the user (the CLI prints them on stderr; see teal.cli.common).
warnings_log = logging.getLogger("teal.warnings")
INTROSPECT = Path(__file__).resolve().parent / "runtime" / "introspect.py"
IMPORT_TIMEOUT_S = 300.0


def load_routes(
    project_dir: Path,
    entry: str,
    runtime: str,
    *,
    python: str | None = None,
    progress: Progress = quiet,
) -> RouteTable:
    """The app's validated route table (raises RouteError naming every bad route).

    Every command that reads the app comes through here, so this is also where
    teal.toml's per-function tables are checked against the app's functions:
    the first moment both are known.
    """
    root = project_dir.resolve()
    shim = runtime_shim(runtimes_cache())
    world = runtime_world(
        root, runtime, runtimes_cache(), override=python, progress=progress, extra=(root, shim)
    )
    found = _introspect(world, entry)
    table = build_route_table(_specs(_routes_or_raise(found, root, entry, world)))
    if not table.routes:
        raise AppLoadError(
            f"{entry} has no routes", hint="add handlers with @app.route(path, methods=[...])"
        )
    if (root / CONFIG_FILE).is_file():
        check_function_tables(load_project(root), table.functions.keys())
    for warning in quota_warnings(table):
        warnings_log.warning("%s", warning)
    return table


def _introspect(world: RuntimeWorld, entry: str) -> dict[str, Any]:
    """Run the import in the runtime's world; what the child found, as JSON."""
    with tempfile.TemporaryDirectory(prefix="teal-introspect-") as scratch:
        result = Path(scratch) / "routes.json"
        command = world.command(INTROSPECT, str(result), entry, *map(str, world.paths))
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=world.paths[0],
                timeout=IMPORT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AppLoadError(
                f"importing the app took more than {IMPORT_TIMEOUT_S:g} s",
                hint="Lambda allows 10 s for a function's start: move slow work out of "
                "module level",
            ) from exc
        # the app's output is for the user, never a result: stderr
        sys.stderr.write((done.stdout + done.stderr).decode("utf-8", "replace"))
        sys.stderr.flush()
        if not result.is_file():
            raise AppLoadError(
                f"importing the app ended its process (exit status {done.returncode})",
                where=str(world.paths[0]),
                hint="see the output above; something at module level ended the interpreter",
            )
        found: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        return found


# What the user is told about how teal imports the app: it is true of both
# clouds, where each function imports the module before its first request.
_IMPORTED_AS = (
    "teal imports your module to read its routes as each deployed function does before its "
    "first request: with the runtime's Python, your code, requirements.txt and the "
    "runtime's SDK, nothing else"
)


def _routes_or_raise(
    found: dict[str, Any], root: Path, entry: str, world: RuntimeWorld
) -> list[dict[str, Any]]:
    module_name = entry.partition(":")[0]
    match found.get("error"):
        case None:
            routes: list[dict[str, Any]] = found["routes"]
            return routes
        case "syntax":
            where = f"{found['file']}:{found['line']}" if found.get("file") else module_name
            raise AppLoadError(f"syntax error: {found['message']}", where=where)
        case "exit":
            where = _deepest_user_frame(found["frames"], root, world.paths[1:])
            raise AppLoadError(
                f"the app exited during import (SystemExit: {found['code']})",
                where=where,
                hint=f"do not call sys.exit() or exit() at module level (found at {where}); "
                f"{_IMPORTED_AS}, and an exit there stops the function",
            )
        case "not-an-app":
            raise AppLoadError(
                f"{entry} is not a teal App (found {found['found']})",
                where="teal.toml [app] entry",
                hint="create it with `app = App()` and point 'entry' at it",
            )
        case _:
            raise _raised_error(found, root, module_name, world)


def _raised_error(
    found: dict[str, Any], root: Path, module_name: str, world: RuntimeWorld
) -> AppLoadError:
    missing = found.get("missing_module")
    if missing and module_name.startswith(missing):
        return AppLoadError(
            f"module {module_name!r} not found in {root}",
            where="teal.toml [app] entry",
            hint=f"check that {module_name.replace('.', '/')}.py exists, or fix 'entry'",
        )
    where = _deepest_user_frame(found["frames"], root, world.paths[1:])
    hint = f"fix the error at {where} (the deepest line of your code); {_IMPORTED_AS}"
    if missing:
        hint = (
            f"add {missing.split('.')[0]} to requirements.txt (Lambda has only your code, "
            f"your requirements and the runtime's SDK); {_IMPORTED_AS}"
        )
    return AppLoadError(
        f"importing the app failed: {found['type']}: {found['message']}", where=where, hint=hint
    )


def _deepest_user_frame(frames: list[list[Any]], root: Path, others: Sequence[Path]) -> str:
    """``file:line`` of the deepest frame in the project, outside installed packages."""
    mine = [
        (str(file), line)
        for file, line in frames
        if Path(str(file)).is_relative_to(root)
        and "site-packages" not in Path(str(file)).parts
        and not any(Path(str(file)).is_relative_to(other) for other in others)
    ]
    return f"{mine[-1][0]}:{mine[-1][1]}" if mine else str(root)


class HandlerRef:
    """A handler as the child process described it: its names, not the function."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.__module__ = str(description.get("module") or "?")
        self.__qualname__ = str(description.get("qualname") or description.get("repr"))
        self.__name__ = str(description.get("name") or "handler")
        self._repr = str(description.get("repr"))

    def __repr__(self) -> str:
        return self._repr


class CallableRef(HandlerRef):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._repr} runs in its function, not in teal's process")


def _specs(routes: list[dict[str, Any]]) -> list[RouteSpec]:
    specs = []
    for route in routes:
        described = route["handler"]
        handler = CallableRef(described) if described.get("callable") else HandlerRef(described)
        function = route.get("function")
        specs.append(
            RouteSpec(
                route["path"],
                tuple(route["methods"]),
                handler,
                function if function is None or isinstance(function, str) else str(function),
                bool(route.get("raw")),
            )
        )
    return specs
