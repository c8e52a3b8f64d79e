"""Who may use the console: the holder of the gateway's token, from this machine's loopback.

The console is one of the gateway's own endpoints, guarded as they all are
(:mod:`teal.cloud.local.gateway.own_endpoints`: the gateway's token, from
loopback, at a loopback Host), with what a browser needs besides: ``teal
console`` prints a URL that carries the token, and every console request
must show it:

- ``?token=`` on a GET sets a cookie (HttpOnly, SameSite=Strict) and
  redirects to the same page under the console's *scope*, without the token;
- the cookie, or the ``X-Teal-Token`` header (for scripts and tests).

A browser sends a host's cookies to every port of it, so the cookie's path
is the scope, ``/_teal/console/<scope>``, a secret derived from the token:
another server on this machine (another user's, or an app behind a domain
port) never sees the cookie, since the browser sends it only to paths it
cannot know. The pages all live under the scope.

A request that changes something is a POST that also carries the CSRF token
(an HMAC of the token, in a hidden form field) and comes from the console's
own origin (``Origin``, else ``Referer``): a page of another origin on this
machine (an app on another port, which a browser counts as the same site) can
neither read the CSRF token nor pass the origin check. The Host header must
name loopback, so a DNS-rebound name cannot reach the console either.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlsplit

from teal.cloud.local.gateway.handler import CONSOLE_PATH
from teal.cloud.local.gateway.own_endpoints import (
    TOKEN_HEADER,
    cross_origin_refusal,
    loopback_refusal,
    origins,
    same_token,
)

TOKEN_PARAMETER = "token"
CSRF_FIELD = "csrf"


class Verdict(Enum):
    ALLOWED = "allowed"
    SET_COOKIE = "set-cookie"  # the token came in the URL: keep it in a cookie, redirect
    REFUSED = "refused"


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class ConsoleAuth:
    """The checks of one gateway's console: its token and the port it listens on."""

    token: str
    port: int

    @property
    def cookie_name(self) -> str:
        return f"teal_console_{self.port}"

    @property
    def scope(self) -> str:
        """The secret path segment of the console's pages (and of its cookie)."""
        return hmac.new(self.token.encode(), b"console-path", hashlib.sha256).hexdigest()[:32]

    @property
    def base(self) -> str:
        """Where the pages are: the console's path and its scope."""
        return f"{CONSOLE_PATH}/{self.scope}"

    @property
    def csrf_token(self) -> str:
        """What each form carries; derived from the token, so it holds as long as it does."""
        return hmac.new(self.token.encode(), b"console-csrf", hashlib.sha256).hexdigest()

    def cookie_header(self) -> str:
        return f"{self.cookie_name}={self.token}; Path={self.base}; HttpOnly; SameSite=Strict"

    def check(
        self,
        method: str,
        headers: Mapping[str, str],
        query: str,
        client_ip: str,
        path: str = "",
    ) -> Checked:
        """Whether a request may see the console; ``headers`` with lowercase names. The
        cookie counts only under the scope (``path``), where the browser sends it."""
        refused = loopback_refusal(client_ip, headers.get("host", ""), self.port)
        refused = refused or cross_origin_refusal(headers, self.port)
        if refused is not None:
            return Checked(Verdict.REFUSED, refused)
        # the URL's token first: even with the cookie set, it leaves the address bar
        if method == "GET" and self._matches(dict(parse_qsl(query)).get(TOKEN_PARAMETER)):
            return Checked(Verdict.SET_COOKIE)
        in_scope = path == self.base or path.startswith(self.base + "/")
        if self._matches(headers.get(TOKEN_HEADER)) or (
            in_scope and self._matches(self._cookie(headers))
        ):
            return Checked(Verdict.ALLOWED)
        return Checked(
            Verdict.REFUSED,
            "this page needs the console's token: open the URL `teal console` prints",
        )

    def check_change(self, headers: Mapping[str, str], form: Mapping[str, str]) -> Checked:
        """A POST's CSRF token and origin (after :meth:`check`)."""
        if not self._same_origin(headers):
            return Checked(Verdict.REFUSED, "the request did not come from the console's page")
        sent = form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(sent.encode(), self.csrf_token.encode()):
            return Checked(Verdict.REFUSED, "the form is stale or forged: reload the page")
        return Checked(Verdict.ALLOWED)

    def _matches(self, sent: str | None) -> bool:
        return same_token(sent, self.token)

    def _cookie(self, headers: Mapping[str, str]) -> str | None:
        try:
            jar = SimpleCookie(headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(self.cookie_name)
        return morsel.value if morsel is not None else None

    def _same_origin(self, headers: Mapping[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            referer = urlsplit(headers.get("referer", ""))
            origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else None
        return origin in origins(self.port)
