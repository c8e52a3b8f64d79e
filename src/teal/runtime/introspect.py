"""Reads an app's routes in the runtime's own Python: ``python -I -S introspect.py ...``.

teal runs this script with the interpreter of ``[app] runtime`` and the
folders a function would import from (the project, its requirements, the
runtime's SDK, teal's runtime shim), so the app is imported exactly as in a
worker and on Lambda, not in teal's own environment. It writes what it found
to a JSON file: the declared routes, or what went wrong and where. Whatever
the app prints goes to stderr; stdout is left alone.

Standard library only (and the shim's ``teal.app``): it runs beside the app.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any


def main(argv: list[str]) -> int:
    result_file, entry, *paths = argv
    sys.path[:1] = paths  # drop this script's own folder, put the app's world first
    with open(result_file, "w", encoding="utf-8") as out:
        json.dump(introspect(entry), out)
    return 0


def introspect(entry: str) -> dict[str, Any]:
    module_name, _, attribute = entry.partition(":")
    sys.stdout.flush()
    os.dup2(2, 1)  # the app's output, Python's and C's alike, goes to stderr
    sys.stdout = sys.stderr
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except SyntaxError as exc:
        return {"error": "syntax", "message": exc.msg, "file": exc.filename, "line": exc.lineno}
    except SystemExit as exc:
        return {"error": "exit", "code": repr(exc.code), "frames": _frames(exc)}
    except BaseException as exc:
        return _raised(exc)
    app = getattr(module, attribute, None)
    from teal.app import App

    if not isinstance(app, App):
        return {"error": "not-an-app", "found": type(app).__name__}
    return {"routes": [_spec(spec) for spec in app.specs]}


def _raised(exc: BaseException) -> dict[str, Any]:
    return {
        "error": "raised",
        "type": type(exc).__name__,
        "message": str(exc),
        "missing_module": getattr(exc, "name", None)
        if isinstance(exc, ModuleNotFoundError)
        else None,
        "frames": _frames(exc),
    }


def _frames(exc: BaseException) -> list[list[Any]]:
    return [[f.filename, f.lineno] for f in traceback.extract_tb(exc.__traceback__)]


def _spec(spec: Any) -> dict[str, Any]:
    handler = spec.handler
    return {
        "path": spec.path if isinstance(spec.path, str) else repr(spec.path),
        "methods": [m if isinstance(m, str) else repr(m) for m in spec.methods],
        "function": spec.function
        if spec.function is None or isinstance(spec.function, str)
        else repr(spec.function),
        "raw": bool(spec.raw),
        "handler": {
            "module": getattr(handler, "__module__", None),
            "qualname": getattr(handler, "__qualname__", None),
            "name": getattr(handler, "__name__", None),
            "callable": callable(handler),
            "repr": repr(handler),
        },
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
