"""The embedded local cloud, as the CLI reaches it.

:func:`teal.cloud.open_cloud` opens the local cloud behind the ``Cloud``
seam; what some commands need beyond the seam (``teal local``, ``teal
console``, ``teal dev``: the gateway process, the console's address, the
request feed, an overview of the state) is named here, and the CLI imports
nothing else of this package (tests/test_layering.py holds it to that).

Light on purpose, since every teal command loads it: the control plane
(stack engine, store) and the console's pages are imported only by the
functions that use them.

Inside, the package is split by what it emulates: ``stacks/``
(CloudFormation), ``gateway/`` (the gateway process and API Gateway),
``functions/`` (Lambda), ``triggers/`` (EventBridge and SQS), ``console/``,
over the ``store``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teal.cloud.local.gateway.lifecycle import (
    GatewayStatus,
    ensure_gateway,
    gateway_status,
    log_file,
    stop_gateway,
)
from teal.cloud.local.gateway.own_endpoints import read_token
from teal.cloud.local.gateway.traffic import RequestFeed, RequestLine
from teal.cloud.local.paths import LocalPaths, empty_folder, refuse_dangerous_home


def console_url(paths: LocalPaths, port: int) -> str | None:
    """The web console's address with the token of the gateway that runs now (None when
    it has none: a gateway an older teal started)."""
    from teal.cloud.local.console.auth import TOKEN_PARAMETER
    from teal.cloud.local.gateway.handler import CONSOLE_PATH

    token = read_token(paths)
    return (
        None
        if token is None
        else f"http://127.0.0.1:{port}{CONSOLE_PATH}/?{TOKEN_PARAMETER}={token}"
    )


def set_secret(paths: LocalPaths, ref: str, value: str) -> bool:
    """Keep a value in the local secrets store (True: it is new); see ``secrets_store``."""
    from teal.cloud.local.functions.secrets_store import set_value

    return set_value(paths, ref, value)


def remove_secret(paths: LocalPaths, ref: str) -> bool:
    """Forget a value of the local secrets store (False: it held none)."""
    from teal.cloud.local.functions.secrets_store import remove_value

    return remove_value(paths, ref)


def secret_refs(paths: LocalPaths) -> list[str]:
    """The references the local secrets store holds values for; never a value."""
    from teal.cloud.local.functions.secrets_store import stored_refs

    return stored_refs(paths)


def secrets_file(paths: LocalPaths) -> Path:
    """Where the local secrets store keeps its values (owner-only)."""
    from teal.cloud.local.functions.secrets_store import store_path

    return store_path(paths)


def reset_home(paths: LocalPaths) -> tuple[GatewayStatus, int]:
    """Stop the gateway and empty ``$TEAL_HOME``: what was running, how many entries went."""
    refuse_dangerous_home(paths)
    stopped = stop_gateway(paths)
    return stopped, empty_folder(paths.home)


def overview(paths: LocalPaths) -> dict[str, Any]:
    """The APIs (with stages) and domains in the local cloud's state, read-only, as JSON."""
    if not paths.database.exists():
        return {"apis": [], "domains": []}
    from teal.cloud.local.cloud import LocalCloud

    cloud = LocalCloud(paths)
    try:
        return cloud.overview().to_json()
    finally:
        cloud.close()


__all__ = [
    "GatewayStatus",
    "LocalPaths",
    "RequestFeed",
    "RequestLine",
    "console_url",
    "ensure_gateway",
    "gateway_status",
    "log_file",
    "overview",
    "refuse_dangerous_home",
    "remove_secret",
    "reset_home",
    "secret_refs",
    "secrets_file",
    "set_secret",
    "stop_gateway",
]
