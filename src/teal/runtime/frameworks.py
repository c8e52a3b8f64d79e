"""What ``[app] entry`` names, and how a function serves it.

An entry names a teal :class:`~teal.runtime.app.App`, an ASGI app (FastAPI,
Starlette, Django's ASGI handler, any ASGI callable) or a WSGI app (Flask,
Django's WSGI handler, any WSGI callable). teal's import of the app (to read
its routes) and every function (to serve it) tell them apart the same way,
here.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from teal.runtime.app import App

TEAL, ASGI, WSGI = "teal", "asgi", "wsgi"

# A function's view of an app: a proxy event and a context in, a proxy response out.
Served = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def import_entry(entry: str) -> Any:
    """The object ``module:attribute`` names (``app`` when the attribute is left out)."""
    module_name, _, attribute = entry.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app", None)


def kind_of(target: Any) -> str | None:
    """``teal``, ``asgi``, ``wsgi``, or None for anything else.

    An ASGI app is awaited with (scope, receive, send): a coroutine function,
    or an object whose ``__call__`` is one (FastAPI, Starlette, middleware). A
    WSGI app is called with (environ, start_response): two parameters.
    """
    if isinstance(target, App):
        return TEAL
    if target is None or isinstance(target, type) or not callable(target):
        return None
    if _is_coroutine_callable(target):
        return ASGI
    match _positional_parameters(target):
        case 3:
            return ASGI  # awaits without being a coroutine function: a wrapper returning one
        case 2:
            return WSGI
        case _:
            return None


def framework_of(target: Any) -> str | None:
    """The distribution the app's class comes from (``fastapi``, ``flask``...), if any."""
    module = getattr(type(target), "__module__", "") or ""
    top = module.split(".")[0]
    return top if top and top not in ("builtins", "__main__") else None


def _is_coroutine_callable(target: Any) -> bool:
    call = getattr(target, "__call__", None)  # noqa: B004 - the method itself, not callable()
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)


def _positional_parameters(target: Any) -> int | None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in signature.parameters.values() if p.kind in kinds)


def framework_handler(entry: str) -> Served | None:
    """How a function serves the app ``entry`` names: None for a teal App (the entry's own
    dispatch serves it), else the ASGI or WSGI adapter around the app.

    Raises ``TypeError`` for anything that is neither.
    """
    target = import_entry(entry)
    match kind_of(target):
        case "teal":
            return None
        case "asgi":
            from teal.runtime.asgi import AsgiAdapter

            return AsgiAdapter(target)
        case "wsgi":
            from teal.runtime.wsgi import WsgiAdapter

            return WsgiAdapter(target)
        case _:
            raise TypeError(
                f"{entry} is neither a teal App nor an ASGI or WSGI app "
                f"(got {type(target).__name__})"
            )
