"""Values kept in Parameter Store and Secrets Manager, put in ``os.environ`` at cold start.

teal.toml's references (``DB_URL = { ssm = "/blog/db-url" }``) reach a function
as one variable, :data:`REFERENCES_VARIABLE`: the variable names and what they
refer to, never a value. :func:`load_once`, which the handler calls before it
imports the app, asks a *source* for the values once per execution environment
and sets the variables, so the app's module sees them at import time.

Two sources, chosen by :data:`SOURCE_VARIABLE`, and one code path around them
(which references, which JSON key, what is missing, what gets redacted):

- unset (Lambda): Parameter Store's ``GetParameters`` (ten names a call, with
  decryption) and Secrets Manager's ``GetSecretValue``, as signed HTTPS
  requests made with the standard library and the execution environment's
  credentials. Not boto3: teal's runtime imports nothing beyond the standard
  library, so a package that does not ship boto3 still works, and a cold start
  does not pay for importing it (a third of a second). ``AWS_ENDPOINT_URL_SSM``,
  ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` and ``AWS_ENDPOINT_URL`` point the calls
  elsewhere, as they do for the AWS SDKs.
- ``fd:N`` (the local cloud): the worker's parent has written the values of
  this function's references, as JSON, into the pipe at file descriptor N; the
  values never touch a disk on the way.

Why not CloudFormation's dynamic references (``{{resolve:ssm:...}}``): the
value would sit in the function's configuration, readable by anyone allowed
``lambda:GetFunctionConfiguration``, SecureStrings cannot be resolved there,
and a changed value would need a deploy. The price of fetching is one call
per parameter batch and per secret at each cold start.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REFERENCES_VARIABLE = "TEAL_SECRETS"
SOURCE_VARIABLE = "TEAL_SECRETS_SOURCE"
PARAMETER = "ssm"
SECRET = "secret"
REDACTED = "[redacted]"
# A value this short is not looked for in output to redact: it would hide every
# occurrence of a common word or number in a traceback.
REDACT_MIN_LENGTH = 4
PARAMETERS_PER_CALL = 10  # GetParameters takes at most ten names
CALL_TIMEOUT_S = 5.0
ATTEMPTS = 3  # throttled or failing calls are tried again, with a short pause


@dataclass(frozen=True)
class Reference:
    """A parameter (``ssm``) or a secret (``secret``), and for a secret maybe one JSON key."""

    kind: str
    name: str
    key: str | None = None

    @property
    def ref(self) -> str:
        """``ssm:/blog/db-url`` or ``secret:blog/api``: the value's own name."""
        return f"{self.kind}:{self.name}"

    def to_json(self) -> dict[str, str]:
        found = {self.kind: self.name}
        if self.key is not None:
            found["key"] = self.key
        return found

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Reference:
        kind = PARAMETER if PARAMETER in data else SECRET
        return cls(kind, data[kind], data.get("key"))


class SecretsError(Exception):
    """A value could not be had; the message names the reference, never a value."""


def encode_references(references: Mapping[str, Reference]) -> str:
    """:data:`REFERENCES_VARIABLE`'s value: compact JSON, variables in order."""
    table = {name: references[name].to_json() for name in sorted(references)}
    return json.dumps(table, separators=(",", ":"))


def decode_references(text: str) -> dict[str, Reference]:
    return {name: Reference.from_json(data) for name, data in json.loads(text).items()}


# ---------------------------------------------------------------- resolving


Fetch = Callable[[Collection[Reference]], Mapping[str, str]]  # references -> {ref: value}


def resolve(references: Mapping[str, Reference], fetch: Fetch) -> dict[str, str]:
    """Each variable's value; :class:`SecretsError` naming the first one missing."""
    wanted = {reference.ref: reference for reference in references.values()}
    found = fetch(list(wanted.values()))
    values: dict[str, str] = {}
    for variable, reference in sorted(references.items()):
        raw = found.get(reference.ref)
        if raw is None:
            raise SecretsError(f"{variable}: {reference.ref} {_missing_words()}")
        values[variable] = raw if reference.key is None else _json_key(variable, reference, raw)
    return values


def _missing_words() -> str:
    if os.environ.get(SOURCE_VARIABLE, "").startswith("fd:"):
        return (
            "is not in the local cloud's secrets store "
            "(set it with `teal secrets set`, then call again)"
        )
    return "does not exist, or this function's role may not read it"


def _json_key(variable: str, reference: Reference, raw: str) -> str:
    where = f"{variable}: key {reference.key!r} of {reference.ref}"
    try:
        document = json.loads(raw)
    except ValueError:
        raise SecretsError(f"{where}: the secret's value is not JSON") from None
    if not isinstance(document, dict) or reference.key not in document:
        raise SecretsError(f"{where}: the secret's JSON has no such key")
    value = document[reference.key]
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------- once per environment

_loaded = False
_values: list[str] = []  # what was resolved, longest first, for redact()


def load_once(environ: MutableMapping[str, str] | None = None) -> None:
    """Resolve the function's references into the environment, once per execution
    environment (a failure is tried again by the next invocation)."""
    global _loaded
    if _loaded:
        return
    environ = os.environ if environ is None else environ
    text = environ.get(REFERENCES_VARIABLE)
    if text:
        values = resolve(decode_references(text), source_of(environ))
        remember(values.values())
        environ.update(values)
    _loaded = True


def remember(values: Collection[str]) -> None:
    """Values :func:`redact` hides from now on."""
    known = set(_values) | {v for v in values if len(v) >= REDACT_MIN_LENGTH}
    _values[:] = sorted(known, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every resolved value replaced by :data:`REDACTED`."""
    for value in _values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def source_of(environ: Mapping[str, str]) -> Fetch:
    """Where the values come from: the worker's parent, or AWS's APIs."""
    source = environ.get(SOURCE_VARIABLE, "")
    if source.startswith("fd:"):
        return _from_pipe(int(source[3:]))
    return AwsSource(environ).fetch


def _from_pipe(fd: int) -> Fetch:
    def fetch(_references: Collection[Reference]) -> Mapping[str, str]:
        with os.fdopen(fd, "rb") as pipe:
            found: dict[str, str] = json.loads(pipe.read() or b"{}")
        return found

    return fetch


# ---------------------------------------------------------------- AWS


class AwsSource:
    """Parameter Store and Secrets Manager through their JSON APIs, signed with SigV4."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""

    def fetch(self, references: Collection[Reference]) -> dict[str, str]:
        found: dict[str, str] = {}
        names = sorted({r.name for r in references if r.kind == PARAMETER})
        for start in range(0, len(names), PARAMETERS_PER_CALL):
            answer = self.call(
                "ssm",
                "AmazonSSM.GetParameters",
                {"Names": names[start : start + PARAMETERS_PER_CALL], "WithDecryption": True},
            )
            for parameter in answer.get("Parameters", []):
                found[f"{PARAMETER}:{parameter['Name']}"] = parameter["Value"]
        for name in sorted({r.name for r in references if r.kind == SECRET}):
            value = self._secret(name)
            if value is not None:
                found[f"{SECRET}:{name}"] = value
        return found

    def _secret(self, name: str) -> str | None:
        try:
            answer = self.call(
                "secretsmanager", "secretsmanager.GetSecretValue", {"SecretId": name}
            )
        except SecretsError as exc:
            if "ResourceNotFoundException" in str(exc):
                return None
            raise
        if "SecretString" in answer:
            return str(answer["SecretString"])
        try:
            return base64.b64decode(answer["SecretBinary"]).decode("utf-8")
        except (KeyError, ValueError):
            raise SecretsError(f"{SECRET}:{name} holds binary data, not text") from None

    def endpoint(self, service: str) -> str:
        specific = {
            "ssm": "AWS_ENDPOINT_URL_SSM",
            "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        }
        given = self.environ.get(specific[service]) or self.environ.get("AWS_ENDPOINT_URL")
        if given:
            return given
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"https://{service}.{self.region}.{suffix}/"

    def call(self, service: str, target: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One API call, tried again when throttled or when the service failed."""
        payload = json.dumps(body).encode("utf-8")
        url = self.endpoint(service)
        for attempt in range(ATTEMPTS):
            headers = sign(
                url, self.region, service, target, payload, environ=self.environ, now=_utc_now()
            )
            request = urllib.request.Request(url, payload, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as response:
                    answer: dict[str, Any] = json.loads(response.read() or b"{}")
                    return answer
            except urllib.error.HTTPError as exc:
                kind = _error_kind(exc)
                retry = exc.code >= 500 or "Throttl" in kind
                if not retry or attempt == ATTEMPTS - 1:
                    raise SecretsError(f"{target} answered {exc.code} {kind}") from None
            except OSError as exc:
                if attempt == ATTEMPTS - 1:
                    raise SecretsError(f"{target} could not be reached: {exc}") from None
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")


def _error_kind(error: urllib.error.HTTPError) -> str:
    """The AWS error code of a JSON API's refusal (``__type``, after any ``#``)."""
    try:
        kind = str(json.loads(error.read() or b"{}").get("__type", ""))
    except (ValueError, OSError):
        kind = ""
    return kind.rpartition("#")[2] or error.reason


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def sign(
    url: str,
    region: str,
    service: str,
    target: str,
    payload: bytes,
    *,
    environ: Mapping[str, str],
    now: datetime.datetime,
) -> dict[str, str]:
    """The headers of a SigV4-signed POST of an AWS JSON 1.1 API (AWS's "Signature
    Version 4 signing process"), with the credentials Lambda puts in the environment."""
    parts = urlsplit(url)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": parts.netloc,
        "x-amz-date": stamp,
        "x-amz-target": target,
    }
    token = environ.get("AWS_SESSION_TOKEN")
    if token:
        headers["x-amz-security-token"] = token
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            "POST",
            parts.path or "/",
            "",
            *(f"{name}:{headers[name].strip()}" for name in sorted(headers)),
            "",
            signed,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + environ.get("AWS_SECRET_ACCESS_KEY", "")).encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={environ.get('AWS_ACCESS_KEY_ID', '')}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers
