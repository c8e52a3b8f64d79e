"""Importing the user's app module, with errors reported as the user's errors."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from teal.app import App
from teal.errors import AppLoadError
from teal.routes import RouteTable


def load_app(project_dir: Path, entry: str) -> App:
    """Import ``module:attribute`` from the project folder and return its App."""
    root = project_dir.resolve()
    module_name, _, attribute = entry.partition(":")
    _forget_project_modules(root, module_name)
    sys.path.insert(0, str(root))
    try:
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
    """The app's validated route table (raises RouteError naming every bad route)."""
    table = load_app(project_dir, entry).routes()
    if not table.routes:
        raise AppLoadError(
            f"{entry} has no routes", hint="add handlers with @app.route(path, methods=[...])"
        )
    return table


def _user_code_error(exc: BaseException, root: Path) -> AppLoadError:
    """Point at the deepest frame of the user's own code."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).is_relative_to(root)
    ]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(root)
    return AppLoadError(
        f"importing the app failed: {type(exc).__name__}: {exc}",
        where=where,
        hint="fix the error in your code; teal imports your module exactly as Lambda will",
    )


def _forget_project_modules(root: Path, module_name: str) -> None:
    """Drop modules imported earlier from this (or another) project, so edits are seen."""
    top = module_name.split(".", maxsplit=1)[0]
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        same_name = name == top or name.startswith(top + ".")
        in_project = bool(file) and Path(str(file)).resolve().is_relative_to(root)
        if (same_name or in_project) and not name.startswith("teal"):
            del sys.modules[name]
