"""Who may call the gateway's own endpoints (``/_teal/`` on its main port): the user who
started it, through teal, and nothing else on this machine or in its browser.

Listening on 127.0.0.1 is not enough: loopback is shared by every user of the
machine, and every page open in a browser can send requests to it (a
``text/plain`` POST or a form needs no permission), or read them through a
DNS-rebound name. What the endpoints do is worth guarding: ``invoke`` runs
any function with the developer's own AWS credentials, past authorizers and
API keys (``warm`` starts its workers); ``health`` names the home folder, the pid and the workers.

So the gateway makes a random token when it starts (under a supervisor, the
supervisor makes it once and gives it to every gateway it starts, so it stays
valid across restarts) and keeps it in ``$TEAL_HOME/gateway.token`` (0600, in
the owner-only home), where teal's commands read it; every call must

- come from loopback, to a loopback ``Host`` (``127.0.0.1:<port>`` or
  ``localhost:<port>``), so a rebound name is refused;
- carry the token in ``X-Teal-Token``: a page cannot add a header of its own
  without a CORS preflight, which the gateway never grants (it answers it
  like any call without the token), so no simple request gets through;
- name no other origin: an ``Origin`` header, if any, is the gateway's own,
  and a browser's ``Sec-Fetch-Site`` says the call is not cross-site.

The console's pages, which a browser opens, take the same token from the URL
once and then from a cookie (:mod:`teal.cloud.local.console.auth`); they make
the same client and Host checks through :func:`loopback_refusal`.
"""

from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from teal.cloud.local.paths import LocalPaths
from teal.cloud.local.store import private_home

SERVICE = "teal-local-gateway"  # what the gateway calls itself in its answers
OWN_PREFIX = "/_teal/"  # the gateway's own endpoints, on the main port only
HEALTH_PATH = "/_teal/health"
INVOKE_PREFIX = "/_teal/invoke/"  # + a function's name: one invocation (teal invoke)
WARM_PREFIX = "/_teal/warm/"  # + a function's name: ready workers before a switch
TOKEN_FILE = "gateway.token"
TOKEN_HEADER = "x-teal-token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# what a browser says of a request it makes on its own page's behalf, or typed by the user
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def token_file(paths: LocalPaths) -> Path:
    return paths.home / TOKEN_FILE


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token(paths: LocalPaths, token: str) -> None:
    """Keep the token where teal's commands read it: 0600, whole or not at all. Only the
    gateway that holds the port writes it (one that lost the port to another must not
    take the token from the gateway that serves)."""
    fd, scratch = tempfile.mkstemp(dir=private_home(paths.home), prefix=".token-")  # 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(token)
        os.replace(scratch, token_file(paths))
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def read_token(paths: LocalPaths) -> str | None:
    """The running gateway's token, or None (no gateway started here yet)."""
    try:
        return token_file(paths).read_text().strip() or None
    except OSError:
        return None


def token_headers(paths: LocalPaths) -> dict[str, str]:
    """The header a call of teal's own carries (none when there is no token to send)."""
    token = read_token(paths)
    return {TOKEN_HEADER: token} if token else {}


def same_token(sent: str | None, token: str) -> bool:
    """Compared in constant time: how long a refusal takes says nothing of the token."""
    return sent is not None and hmac.compare_digest(sent.encode(), token.encode())


def origins(port: int) -> tuple[str, ...]:
    return tuple(f"http://{name}:{port}" for name in LOOPBACK_NAMES)


def loopback_refusal(client_ip: str, host: str, port: int) -> str | None:
    """Why a request that did not come from this machine to its loopback name is refused."""
    if not client_ip.startswith("127.") and client_ip != "::1":
        return "the gateway's own endpoints answer this machine only"
    if host not in {f"{name}:{port}" for name in LOOPBACK_NAMES}:
        return f"the gateway's own endpoints answer at 127.0.0.1:{port} or localhost:{port} only"
    return None


def cross_origin_refusal(headers: Mapping[str, str], port: int) -> str | None:
    """Why a request a browser made for a page of another origin is refused: its
    ``Origin`` names another, or its ``Sec-Fetch-Site`` says it crosses sites."""
    origin = headers.get("origin")
    if origin is not None and origin not in origins(port):
        return "the gateway's own endpoints answer no other origin"
    if headers.get("sec-fetch-site", "none") not in OWN_FETCH_SITES:
        return "the gateway's own endpoints answer no cross-site request"
    return None


@dataclass(frozen=True)
class OwnEndpointsAuth:
    """The checks of one gateway's own endpoints: its token and its main port."""

    token: str
    port: int

    def refusal(self, client_ip: str, headers: Mapping[str, str]) -> str | None:
        """Why this call is refused, or None; ``headers`` with lowercase names."""
        refused = loopback_refusal(client_ip, headers.get("host", ""), self.port)
        refused = refused or cross_origin_refusal(headers, self.port)
        if refused is not None:
            return refused
        if not same_token(headers.get(TOKEN_HEADER), self.token):
            return "this endpoint needs the gateway's token (X-Teal-Token): teal sends it"
        return None
