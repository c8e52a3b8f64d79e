"""Before a deploy: does every parameter and secret teal.toml refers to exist?

Metadata only, never a value: Parameter Store's ``DescribeParameters`` (up to
fifty names a call) and Secrets Manager's ``DescribeSecret``. A reference the
caller may not describe is not reported missing: the deploy identity need not
see the app's secrets, and the function's role is what reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from teal.cloud.aws.failures import translated
from teal.cloud.aws.retry import error_code
from teal.cloud.aws.session import CLIENT_CONFIG, AwsClients
from teal.runtime.secrets import PARAMETER, SECRET, Reference

NAMES_PER_CALL = 50  # DescribeParameters' filter takes at most fifty values
_NOT_FOUND = {"ResourceNotFoundException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def missing_references(clients: AwsClients, references: Sequence[Reference]) -> list[str]:
    """The references (``ssm:NAME``, ``secret:NAME``) AWS surely does not hold, sorted."""
    parameters = sorted({r.name for r in references if r.kind == PARAMETER})
    secrets = sorted({r.name for r in references if r.kind == SECRET})
    missing: list[str] = []
    if parameters:
        missing += [f"{PARAMETER}:{n}" for n in _missing_parameters(clients, parameters)]
    if secrets:
        missing += [f"{SECRET}:{n}" for n in _missing_secrets(clients, secrets)]
    return sorted(missing)


def _client(clients: AwsClients, service: str) -> Any:
    """A client made on the deploy that needs it (one with references), not with the others."""
    session = boto3.Session(profile_name=clients.profile, region_name=clients.region)
    kwargs: dict[str, Any] = {"region_name": clients.region, "config": CLIENT_CONFIG}
    if clients.endpoint_url:
        kwargs["endpoint_url"] = clients.endpoint_url
    return session.client(service, **kwargs)  # type: ignore[call-overload]


def _missing_parameters(clients: AwsClients, names: list[str]) -> list[str]:
    ssm = _client(clients, "ssm")
    found: set[str] = set()
    with translated("ssm"):
        for start in range(0, len(names), NAMES_PER_CALL):
            batch = names[start : start + NAMES_PER_CALL]
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": batch}]
                }
                if token:
                    kwargs["NextToken"] = token
                try:
                    page = ssm.describe_parameters(**kwargs)
                except ClientError as error:
                    if error_code(error) in _DENIED:
                        return []  # not ours to see: the function's role reads them
                    raise
                found.update(p["Name"] for p in page.get("Parameters", []))
                token = page.get("NextToken")
                if not token:
                    break
    return [name for name in names if name not in found]


def _missing_secrets(clients: AwsClients, names: list[str]) -> list[str]:
    manager = _client(clients, "secretsmanager")
    missing: list[str] = []
    with translated("secretsmanager"):
        for name in names:
            try:
                manager.describe_secret(SecretId=name)
            except ClientError as error:
                if error_code(error) in _NOT_FOUND:
                    missing.append(name)
                elif error_code(error) not in _DENIED:
                    raise
    return missing
