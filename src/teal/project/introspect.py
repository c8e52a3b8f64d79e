"""Reads an app's routes in the runtime's own Python: ``python -I -S introspect.py ...``.

teal runs this script with the interpreter of ``[app] runtime`` and the
folders a function would import from (the project, its requirements, the
runtime's SDK, teal's runtime shim), so the app is imported exactly as in a
worker and on Lambda, not in teal's own environment. It writes what it found
to a JSON file: what kind of app the entry names (``kind``: a teal App, an
ASGI or a WSGI app) and its routes, or what went wrong and where. Whatever
the app prints goes to stderr; stdout is left alone.

What the loader cannot otherwise learn it finds in a second file: the
stacks :mod:`faulthandler` writes when the import crashes (a segfault) or
when the loader, at its deadline, asks with SIGUSR1 where a slow import
stands. An ``os._exit()`` at import is recorded with its line before it
ends the process. Once the answer is written the process ends at once
(``os._exit``): a thread the app started cannot keep it alive, and the
loader then ends whatever else the app started (see teal.processes).

A framework's routes are read by :mod:`framework_routes`, loaded from beside
this file: when they cannot be read (an app of a framework teal does not
know, a bare callable), ``routes`` is null and ``unreadable`` says why.

Standard library only (and the shim's ``teal.runtime.app``): it runs beside the app.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import importlib.util
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn

FRAMEWORK_ROUTES = Path(__file__).resolve().with_name("framework_routes.py")


def main(argv: list[str]) -> NoReturn:
    result_file, stacks_file, entry, *paths = argv
    sys.path[:1] = paths  # drop this script's own folder, put the app's world first
    me = os.getpid()
    with open(stacks_file, "w", encoding="utf-8") as stacks:
        faulthandler.enable(stacks, all_threads=True)  # a crash: where each thread was
        faulthandler.register(signal.SIGUSR1, stacks, all_threads=True)  # the loader asks
        with _exits_recorded(result_file, me):
            found = introspect(entry)
        if os.getpid() == me:  # not a copy of this process the app forked
            write_answer(result_file, found)
        _leave()


def write_answer(result_file: str, found: dict[str, Any]) -> None:
    """Whole or not at all: the loader reads a missing file as a process that ended."""
    partial = f"{result_file}.part"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(found, out)
    os.replace(partial, result_file)


@contextlib.contextmanager
def _exits_recorded(result_file: str, me: int) -> Iterator[None]:
    """``os._exit()`` during the import writes where it was called, then exits."""
    real_exit = os._exit

    def exit_recorded(status: int) -> NoReturn:
        if os.getpid() == me:
            caller: FrameType | None = sys._getframe(1)
            write_answer(
                result_file,
                {
                    "error": "exit",
                    "call": "os._exit",
                    "code": repr(status),
                    "frames": _stack(caller),
                },
            )
        real_exit(status)

    os._exit = exit_recorded
    try:
        yield
    finally:
        os._exit = real_exit


def _leave() -> NoReturn:
    """End now, with what the app printed flushed: C's buffers too, which os._exit skips."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os._exit(0)


def introspect(entry: str) -> dict[str, Any]:
    module_name, _, attribute = entry.partition(":")
    sys.stdout.flush()
    os.dup2(2, 1)  # the app's output, Python's and C's alike, goes to stderr
    sys.stdout = sys.stderr
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return {"error": "syntax", "message": exc.msg, "file": exc.filename, "line": exc.lineno}
    except SystemExit as exc:
        return {"error": "exit", "code": repr(exc.code), "frames": _frames(exc)}
    except BaseException as exc:
        return _raised(exc)
    app: Any = getattr(module, attribute, None)
    from teal.runtime.frameworks import framework_of, kind_of

    kind = kind_of(app)
    if kind is None:
        return {"error": "not-an-app", "found": type(app).__name__}
    if kind == "teal":
        return {
            "kind": kind,
            "routes": [_spec(spec) for spec in app.specs],
            "authorizers": [_authorizer(a) for a in app.authorizers],
            **_triggers(app),
        }
    return {"kind": kind, "framework": framework_of(app), **_framework_routes(app)}


def _framework_routes(app: Any) -> dict[str, Any]:
    """``routes`` as the framework declares them, or null and why they are ``unreadable``."""
    reader = _load_reader()
    found: list[dict[str, Any]] | None
    try:
        match _framework_family(app):
            case "starlette":
                found = reader.starlette_routes(app)
            case "flask":
                found = reader.flask_routes(app)
            case "django":
                found = reader.django_routes()
            case _:
                found = None
    except Exception as exc:
        reason = f"reading its routes failed: {type(exc).__name__}: {exc}"
        return {"routes": None, "unreadable": reason}
    if found is None:
        name = f"{type(app).__module__}.{type(app).__qualname__}"
        return {"routes": None, "unreadable": f"teal cannot read the routes of a {name}"}
    return {"routes": found}


def _framework_family(app: Any) -> str | None:
    """Which reader knows the app: by the classes it is an instance of."""
    modules = {getattr(cls, "__module__", "").split(".")[0] for cls in type(app).__mro__}
    for family in ("starlette", "flask", "django"):
        if family in modules:
            return family
    return "starlette" if _wraps_routes(app) else None  # middleware of another package


def _wraps_routes(app: Any) -> bool:
    """Middleware around a routed app (``SessionMiddleware(FastAPI())``)."""
    inner = getattr(app, "app", None)
    for _ in range(32):
        if inner is None:
            return False
        if isinstance(getattr(inner, "routes", None), list):
            return True
        inner = getattr(inner, "app", None)
    return False


def _load_reader() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_teal_framework_routes", FRAMEWORK_ROUTES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


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


def _stack(frame: FrameType | None) -> list[list[Any]]:
    return [[f.filename, f.lineno] for f in traceback.extract_stack(frame)]


def _declared(value: Any) -> Any:
    """``cors=``/``authorizer=`` as JSON: plain values as they are, teal's configs as their
    JSON, anything else as its repr (for the error naming it)."""
    from teal.runtime.access import CognitoAuthorizer, CORSConfig

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, CORSConfig | CognitoAuthorizer):
        return {"config": value.to_json()}
    return {"repr": repr(value)}


def _handler_description(handler: Any) -> dict[str, Any]:
    from teal.runtime.routes import defined_at

    return {
        "module": getattr(handler, "__module__", None),
        "qualname": getattr(handler, "__qualname__", None),
        "name": getattr(handler, "__name__", None),
        "callable": callable(handler),
        "repr": repr(handler),
        "defined_at": defined_at(handler),
    }


def _authorizer(authorizer: Any) -> dict[str, Any]:
    return {**authorizer.to_json(), "handler": _handler_description(authorizer.handler)}


def _triggers(app: Any) -> dict[str, Any]:
    """The app's schedules and queue consumers, as declared (checked by teal afterwards)."""
    found = getattr(app, "triggers", None)
    if found is None:  # a shim older than schedules
        return {}
    schedules = [
        {"expression": _text(s.expression), "function": _text(s.function), **_handler(s.handler)}
        for s in found.schedules
    ]
    queues = [
        {
            "queue": _text(q.queue),
            "function": _text(q.function),
            "batch_size": q.batch_size if isinstance(q.batch_size, int) else repr(q.batch_size),
            "batch_window": q.batch_window
            if isinstance(q.batch_window, int)
            else repr(q.batch_window),
            "shared": bool(q.shared),
            **_handler(q.handler),
        }
        for q in found.queues
    ]
    return {"schedules": schedules, "queues": queues}


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else repr(value)


def _handler(handler: Any) -> dict[str, Any]:
    return {"handler": _handler_description(handler)}


def _spec(spec: Any) -> dict[str, Any]:
    handler = spec.handler
    return {
        "path": spec.path if isinstance(spec.path, str) else repr(spec.path),
        "methods": [m if isinstance(m, str) else repr(m) for m in spec.methods],
        "function": spec.function
        if spec.function is None or isinstance(spec.function, str)
        else repr(spec.function),
        "raw": bool(spec.raw),
        "handler": _handler_description(handler),
        "cors": _declared(spec.cors),
        "authorizer": _declared(spec.authorizer),
        "api_key_required": spec.api_key_required
        if isinstance(spec.api_key_required, bool)
        else repr(spec.api_key_required),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
