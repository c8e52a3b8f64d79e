"""The Lambda handler of every authorizer function: ``teal.runtime.authorize.handler``.

An ``@app.authorizer`` runs in a function of its own; the function's name
(``TEAL_FUNCTION``) says which of the app's authorizers it is. The event goes
to the authorizer as API Gateway sends it, and its answer goes back as it is:
API Gateway evaluates the policy. An exception fails the invocation, as in
plain Lambda code: ``Exception("Unauthorized")`` makes API Gateway answer 401,
any other one 500.

Standard library only: this module ships inside Lambda packages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from teal.runtime.entry import ENTRY_VARIABLE, FUNCTION_VARIABLE, load_app
from teal.runtime.warmup import answer_warm_up, is_warm_up

_authorizer: Callable[[Any, Any], Any] | None = None


def find_authorizer(entry: str, function: str) -> Callable[[Any, Any], Any]:
    """The handler of the app's authorizer that runs in ``function``."""
    app = load_app(entry)
    for authorizer in app.authorizers:
        if authorizer.function == function:
            handler: Callable[[Any, Any], Any] = authorizer.handler
            return handler
    raise LookupError(f"{entry} declares no @app.authorizer running in function {function!r}")


def _current_authorizer() -> Callable[[Any, Any], Any]:
    global _authorizer
    if _authorizer is None:
        entry = os.environ.get(ENTRY_VARIABLE, "app:app")
        _authorizer = find_authorizer(entry, os.environ.get(FUNCTION_VARIABLE, ""))
    return _authorizer


def handler(event: Mapping[str, Any], context: Any) -> Any:
    """Lambda entry point of an authorizer function."""
    if is_warm_up(event):  # teal readying the environment: the authorizer does not run
        return answer_warm_up(event, _current_authorizer)
    return _current_authorizer()(event, context)
