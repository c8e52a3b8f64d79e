"""Reading the user's app: its routes, imported as a function would import it.

The app is imported in a child process running the runtime's Python, with
only what a function sees on Lambda: the project, its requirements, the
runtime's SDK and teal's runtime shim (see :mod:`teal.project.runtimes` and
:mod:`teal.project.introspect`). So an app whose dependencies are not
installed beside teal still deploys, and one that imports a package Lambda
would not have fails here, before anything is deployed.

teal's stdout belongs to its results (``--json`` prints one object there):
whatever the app prints while it is imported goes to stderr, and an app that
exits or crashes during import is the user's error (exit 2), named at the
deepest line of the user's own code.

The entry may name a teal App, or an ASGI or WSGI app (FastAPI, Starlette,
Flask, Django...). A framework's app is served by one function, ``app``, and
its routes come from the framework's own table (``[app] api = "routes"``, the
default), each route an API Gateway resource, or as one greedy resource
(``api = "proxy"``: ``/`` and ``/{proxy+}``). An app whose routes teal cannot
read gets the greedy resource too, and a warning that says so.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teal.progress import Progress, quiet
from teal.project.config import (
    CONFIG_FILE,
    ApiMode,
    Target,
    check_function_tables,
    check_queue_tables,
    load_project,
)
from teal.project.dependencies import DependencyChoice, choice_of, local_world
from teal.project.importing import IMPORTED_AS, deepest_user_frame, import_app, module_file
from teal.project.package import runtime_shim
from teal.project.runtimes import RuntimeWorld
from teal.project.settings import runtimes_cache
from teal.project.trigger_checks import build_triggers
from teal.runtime.access import CORSConfig, LambdaAuthorizer, authorizer_from_json
from teal.runtime.errors import AppLoadError, ConfigError, RouteError
from teal.runtime.frameworks import TEAL
from teal.runtime.routes import (
    HTTP_METHODS,
    RouteSpec,
    RouteTable,
    build_route_table,
    quota_warnings,
    routing_warnings,
)
from teal.runtime.triggers import QueueSpec, ScheduleSpec, TriggerSpecs

# Warnings for the user (the CLI prints them on stderr; see teal.cli.common).
warnings_log = logging.getLogger("teal.warnings")
FRAMEWORK_FUNCTION = "app"  # the one function that serves a framework's app
PROXY_PATHS = ("/", "/{proxy+}")
FRAMEWORK_NAMES = {
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "flask": "Flask",
    "django": "Django",
}


@dataclass(frozen=True)
class LoadedApp:
    """The app as teal read it: its kind, its route table, and how the table was made."""

    table: RouteTable
    kind: str  # "teal", "asgi" or "wsgi"
    framework: str | None = None  # "fastapi", "flask"... for an ASGI or WSGI app
    api: ApiMode = "routes"  # "proxy": one greedy resource, chosen or fallen back to
    notes: tuple[str, ...] = ()  # what teal could not express as it is, and what it did

    @property
    def described(self) -> str:
        """``a teal App``, ``a FastAPI app (ASGI)``..."""
        if self.kind == TEAL:
            return "a teal App"
        name = FRAMEWORK_NAMES.get(self.framework or "")
        return f"a {name} app ({self.kind.upper()})" if name else f"an {self.kind.upper()} app"


def load_routes(
    project_dir: Path,
    entry: str,
    runtime: str,
    *,
    python: str | None = None,
    progress: Progress = quiet,
) -> RouteTable:
    """The app's validated route table (raises RouteError naming every bad route)."""
    return load_app(project_dir, entry, runtime, python=python, progress=progress).table


def target_routes(target: Target, progress: Progress = quiet) -> RouteTable:
    """The route table of the target's app, read with the target's runtime."""
    return load_routes(
        target.project_dir,
        target.entry,
        target.runtime,
        python=target.local_python,
        progress=progress,
    )


def load_app(
    project_dir: Path,
    entry: str,
    runtime: str,
    *,
    python: str | None = None,
    progress: Progress = quiet,
) -> LoadedApp:
    """The app, its kind and its validated route table (raises RouteError naming every
    bad route).

    Every command that reads the app comes through here, so this is also where
    teal.toml's per-function tables are checked against the app's functions:
    the first moment both are known.
    """
    root = project_dir.resolve()
    shim = runtime_shim(runtimes_cache())
    project = load_project(root) if (root / CONFIG_FILE).is_file() else None
    app_settings = project.config.app if project is not None else None
    choice = (
        choice_of(app_settings.dependencies, app_settings.optional_dependencies)
        if app_settings is not None
        else DependencyChoice()
    )
    world = local_world(
        root, runtime, choice, override=python, progress=progress, extra=(root, shim)
    )
    found = import_app(world, entry, root)
    routes = _routes_or_raise(found, root, entry, world)
    api: ApiMode = project.config.app.api if project is not None else "routes"
    loaded = _loaded(found, routes, entry, api)
    if not loaded.table.routes:
        hint = (
            "add handlers with @app.route(path, methods=[...])"
            if loaded.kind == TEAL
            else 'give it routes, or set [app] api = "proxy" in teal.toml when it makes them '
            "later (the whole app is then served through / and /{proxy+})"
        )
        raise AppLoadError(f"{entry} has no routes", where=module_file(root, entry), hint=hint)
    if project is not None:
        functions = {*loaded.table.functions, *loaded.table.triggers.functions}
        check_function_tables(project, functions)
        check_queue_tables(project, {c.queue for c in loaded.table.triggers.consumers})
    for warning in [
        *loaded.notes,
        *quota_warnings(loaded.table),
        *routing_warnings(loaded.table),
    ]:
        warnings_log.warning("%s", warning)
    return loaded


def _loaded(
    found: dict[str, Any], routes: list[dict[str, Any]] | None, entry: str, api: ApiMode
) -> LoadedApp:
    kind = str(found.get("kind") or TEAL)
    if kind == TEAL:
        if api == "proxy":
            raise ConfigError(
                f'[app] api = "proxy" is for ASGI and WSGI apps, and {entry} is a teal App',
                where="teal.toml [app] api",
                hint="remove it: a teal App's routes are its API's resources",
            )
        authorizers = [_lambda_authorizer(a) for a in found.get("authorizers") or []]
        table = build_route_table(_specs(routes or []), authorizers)
        triggers = build_triggers(_trigger_specs(found))
        return LoadedApp(dataclasses.replace(table, triggers=triggers), TEAL)
    framework = found.get("framework")
    name = FRAMEWORK_NAMES.get(str(framework), str(framework or kind.upper()))
    if api == "proxy":
        return LoadedApp(_proxy_table(entry, kind), kind, framework, "proxy")
    if routes is None:
        note = (
            f"{entry}: {found.get('unreadable')}; it is served through the greedy resources "
            f'{" and ".join(PROXY_PATHS)} (set [app] api = "proxy" in teal.toml to choose '
            "this and silence this warning)"
        )
        return LoadedApp(_proxy_table(entry, kind), kind, framework, "proxy", (note,))
    kept, notes = _covered_by_fallbacks(routes, name)
    return LoadedApp(_framework_table(kept, name), kind, framework, "routes", notes)


def _proxy_table(entry: str, kind: str) -> RouteTable:
    module, _, attribute = entry.partition(":")
    handler = CallableRef(
        {"module": module, "qualname": attribute, "name": attribute, "repr": entry}
    )
    source = f"{kind.upper()} app {entry}"
    return build_route_table(
        RouteSpec(path, ("ANY",), handler, FRAMEWORK_FUNCTION, False, source)
        for path in PROXY_PATHS
    )


def _covered_by_fallbacks(
    routes: list[dict[str, Any]], name: str
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The routes left once greedy stand-ins cover their variable siblings, and a note
    for each stand-in.

    A stand-in ``/files/{proxy+}`` takes every request under ``/files`` that no
    static resource takes; a variable resource beside it (``/files/{name}``)
    would break API Gateway's one-variable-per-parent rule, and it serves the
    same function anyway: it is left out.
    """
    fallbacks = {route["path"] for route in routes if route.get("fallback")}
    parents = {path.rsplit("/", 1)[0] or "/" for path in fallbacks}
    kept = [route for route in routes if route["path"] in fallbacks or not _under(route, parents)]
    notes = tuple(
        f"{name} {route['source']} cannot be expressed as API Gateway resources: "
        f"it is served through {route['path']}, and {name} routes the requests"
        for route in routes
        if route.get("fallback")
    )
    return kept, tuple(dict.fromkeys(notes))


def _under(route: dict[str, Any], parents: set[str]) -> bool:
    """Whether the route's path goes through a variable part right below one of ``parents``."""
    path = str(route["path"])
    for parent in parents:
        head = "" if parent == "/" else parent
        if path.startswith(head + "/{"):
            return True
    return False


def _framework_table(routes: list[dict[str, Any]], name: str) -> RouteTable:
    """One resource per path, with every method a framework route there takes."""
    merged: dict[str, tuple[set[str], dict[str, Any]]] = {}
    for route in routes:
        methods, _ = merged.setdefault(route["path"], (set(), route))
        methods.update(m if m in HTTP_METHODS else "ANY" for m in route["methods"])
    specs = [
        RouteSpec(
            path,
            ("ANY",) if "ANY" in methods else tuple(sorted(methods)),
            _handler(first["handler"]),
            FRAMEWORK_FUNCTION,
            False,
            f"{name} {first['source']}",
        )
        for path, (methods, first) in merged.items()
    ]
    try:
        return build_route_table(specs)
    except RouteError as exc:
        exc.hint = (
            f'change the {name} routes named above, or set [app] api = "proxy" in teal.toml '
            "to serve the whole app through one greedy resource"
        )
        raise


def _routes_or_raise(
    found: dict[str, Any], root: Path, entry: str, world: RuntimeWorld
) -> list[dict[str, Any]] | None:
    module_name = entry.partition(":")[0]
    match found.get("error"):
        case None:
            routes: list[dict[str, Any]] | None = found["routes"]
            return routes
        case "syntax":
            where = f"{found['file']}:{found['line']}" if found.get("file") else module_name
            raise AppLoadError(
                f"syntax error: {found['message']}",
                where=where,
                hint=f"fix the line named (Python cannot compile it); {IMPORTED_AS}",
            )
        case "exit":
            where = deepest_user_frame(
                found["frames"], root, world.paths[1:], module_file(root, entry)
            )
            if found.get("call") == "os._exit":
                what, call = f"the app called os._exit({found['code']}) during import", "os._exit()"
            else:
                what = f"the app exited during import (SystemExit: {found['code']})"
                call = "sys.exit() or exit()"
            raise AppLoadError(
                what,
                where=where,
                hint=f"do not call {call} at module level (found at {where}); "
                f"{IMPORTED_AS}, and an exit there stops the function",
            )
        case "not-an-app":
            raise AppLoadError(
                f"{entry} is neither a teal App nor an ASGI or WSGI app (found {found['found']})",
                where="teal.toml [app] entry",
                hint="point 'entry' at your app: `app = App()`, `app = FastAPI()`, "
                "`app = Flask(__name__)`, Django's `application = get_wsgi_application()`",
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
    where = deepest_user_frame(
        found["frames"], root, world.paths[1:], module_file(root, module_name)
    )
    hint = f"fix the error at {where} (the deepest line of your code); {IMPORTED_AS}"
    if found["type"] == "KeyboardInterrupt":
        # teal's own Ctrl-C never reaches the import: it runs in a process group of its own
        return AppLoadError(
            "the app raised KeyboardInterrupt during import",
            where=where,
            hint=f"the app's own code raised it, or a signal the app sent itself, not a "
            f"Ctrl-C (teal's never reaches the import): fix {where}; {IMPORTED_AS}",
        )
    if missing:
        hint = (
            f"add {missing.split('.')[0]} to requirements.txt (Lambda has only your code, "
            f"your requirements and the runtime's SDK); {IMPORTED_AS}"
        )
    return AppLoadError(
        f"importing the app failed: {found['type']}: {found['message']}", where=where, hint=hint
    )


class HandlerRef:
    """A handler as the child process described it: its names, not the function."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.__module__ = str(description.get("module") or "?")
        self.__qualname__ = str(description.get("qualname") or description.get("repr"))
        self.__name__ = str(description.get("name") or "handler")
        self._repr = str(description.get("repr"))
        defined = description.get("defined_at")  # file:line, for errors naming the handler
        self.teal_defined_at = defined if isinstance(defined, str) else None

    def __repr__(self) -> str:
        return self._repr


class CallableRef(HandlerRef):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._repr} runs in its function, not in teal's process")


def _handler(described: dict[str, Any]) -> HandlerRef:
    return CallableRef(described) if described.get("callable") else HandlerRef(described)


class Declared:
    """A value of ``cors=`` or ``authorizer=`` teal does not know, named by its repr."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def _declared_cors(value: Any) -> Any:
    if isinstance(value, dict) and "config" in value:
        return CORSConfig.from_json(value["config"])
    return Declared(str(value.get("repr"))) if isinstance(value, dict) else value


def _declared_authorizer(value: Any) -> Any:
    if isinstance(value, dict) and "config" in value:
        return authorizer_from_json(value["config"])
    return Declared(str(value.get("repr"))) if isinstance(value, dict) else value


def _lambda_authorizer(described: dict[str, Any]) -> LambdaAuthorizer:
    found = authorizer_from_json(described, _handler(described["handler"]))
    assert isinstance(found, LambdaAuthorizer)
    return found


def _trigger_specs(found: dict[str, Any]) -> TriggerSpecs:
    """The schedules and queue consumers the child process described."""
    schedules = [
        ScheduleSpec(item["expression"], _handler(item["handler"]), item.get("function"))
        for item in found.get("schedules") or []
    ]
    queues = [
        QueueSpec(
            item["queue"],
            _handler(item["handler"]),
            item.get("function"),
            item.get("batch_size", 10),
            item.get("batch_window", 0),
            bool(item.get("shared")),
        )
        for item in found.get("queues") or []
    ]
    return TriggerSpecs(schedules, queues)


def _specs(routes: list[dict[str, Any]]) -> list[RouteSpec]:
    specs = []
    for route in routes:
        handler = _handler(route["handler"])
        function = route.get("function")
        api_key = route.get("api_key_required", False)
        specs.append(
            RouteSpec(
                route["path"],
                tuple(route["methods"]),
                handler,
                function if function is None or isinstance(function, str) else str(function),
                bool(route.get("raw")),
                cors=_declared_cors(route.get("cors")),
                authorizer=_declared_authorizer(route.get("authorizer")),
                api_key_required=api_key if isinstance(api_key, bool) else Declared(str(api_key)),
            )
        )
    return specs
