"""References to Parameter Store and Secrets Manager in teal.toml's ``environment`` tables.

Wherever a variable's value is allowed, a table may stand for a value kept
elsewhere::

    [app.environment]
    DB_URL = { ssm = "/blog/db-url" }                  # a String or SecureString parameter
    API_TOKEN = { secret = "blog/api", key = "token" } # a secret, or one key of its JSON

``kms_key`` names the customer managed KMS key the value is encrypted with,
so the function's role may decrypt with it (AWS's own keys need no grant).

The reference is what teal writes down (the template, the plan, the
package); the value is fetched by teal's runtime when an execution
environment starts (:mod:`teal.runtime.secrets`). A reference is also known
by its short form, ``ssm:/blog/db-url`` or ``secret:blog/api``: what
``teal secrets`` takes and what messages name.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Tag,
    model_validator,
)

from teal.runtime.errors import UserError
from teal.runtime.secrets import PARAMETER, SECRET, Reference

# Parameter Store's names (the Systems Manager User Guide, "Parameter name
# requirements"): letters, digits and ``_.-``, with ``/`` for a hierarchy,
# which must then start with ``/``; at most 15 levels; not starting with
# ``aws`` or ``ssm`` (any case), which AWS reserves; 1011 characters at most.
PARAMETER_NAME = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$|^[a-zA-Z0-9_.-]+$")
PARAMETER_NAME_LIMIT = 1011
PARAMETER_LEVELS = 15
# Secrets Manager's names: letters, digits and ``/_+=.@-``, 512 characters at most.
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# A KMS key as a Decrypt grant can name it: its ARN, or its id (a UUID, or mrk- and 32 hex
# digits for a multi-Region key). An alias cannot be a Decrypt statement's resource.
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$")
KMS_KEY_ID = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
# Each value Parameter Store and Secrets Manager hold: an advanced parameter's 8 KB, a
# secret's 64 KB (teal secrets set refuses more, as the services would).
VALUE_LIMITS = {PARAMETER: 8192, SECRET: 65536}
REFERENCE_FORMS = ("plain", "reference")  # tags pydantic puts in an error's location


def parameter_problem(name: str) -> str | None:
    """Why Parameter Store would refuse ``name``, or None."""
    if len(name) > PARAMETER_NAME_LIMIT:
        return f"a parameter name has at most {PARAMETER_NAME_LIMIT} characters"
    if not PARAMETER_NAME.match(name):
        return (
            "a parameter name is letters, digits and '_.-'; a hierarchy starts with '/' and "
            "separates its levels with single '/', such as '/blog/db-url'"
        )
    if name.count("/") > PARAMETER_LEVELS:
        return f"a parameter hierarchy has at most {PARAMETER_LEVELS} levels"
    if name.lstrip("/").lower().startswith(("aws", "ssm")):
        return "AWS reserves parameter names starting with 'aws' or 'ssm'"
    return None


def secret_problem(name: str) -> str | None:
    """Why Secrets Manager would refuse ``name``, or None."""
    if not SECRET_NAME.match(name):
        return "a secret name is 1-512 letters, digits and '/_+=.@-', such as 'blog/api'"
    return None


def _kms_key(value: str) -> str:
    if not (KMS_KEY_ARN.match(value) or KMS_KEY_ID.match(value)):
        raise ValueError(
            "not a KMS key's ARN or id; write 'arn:aws:kms:REGION:ACCOUNT:key/KEY-ID' or the "
            "key id (an alias cannot be granted Decrypt)"
        )
    return value


class ReferenceTable(BaseModel):
    """``{ ssm = "..." }`` or ``{ secret = "...", key = "..." }``, as teal.toml writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ssm: str | None = None
    secret: str | None = None
    key: str | None = None
    kms_key: Annotated[str, AfterValidator(_kms_key)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ReferenceTable:
        if (self.ssm is None) == (self.secret is None):
            raise ValueError(
                'a reference names either a parameter ({ ssm = "/name" }) or a secret '
                '({ secret = "name" }), exactly one'
            )
        if self.ssm is not None:
            if self.key is not None:
                raise ValueError("'key' picks a key of a secret's JSON; a parameter has none")
            problem = parameter_problem(self.ssm)
        else:
            problem = secret_problem(self.secret or "")
            if self.key is not None and not self.key:
                raise ValueError("'key' names a key of the secret's JSON: it cannot be empty")
        if problem:
            raise ValueError(problem)
        return self

    def reference(self) -> Reference:
        if self.ssm is not None:
            return Reference(PARAMETER, self.ssm)
        return Reference(SECRET, self.secret or "", self.key)


def _value_form(value: Any) -> str:
    return "reference" if isinstance(value, dict | ReferenceTable) else "plain"


# A variable's value in teal.toml: a string, or a reference table. The discriminator picks
# the form by the value's type, so a mistake is reported against that form alone.
VariableValue = Annotated[
    Annotated[str, Tag("plain")] | Annotated[ReferenceTable, Tag("reference")],
    Discriminator(_value_form),
]


def parse_ref(text: str, where: str) -> Reference:
    """``ssm:/name`` or ``secret:name`` (what ``teal secrets`` takes) as a Reference."""
    kind, _, name = text.partition(":")
    hint = "write ssm:/NAME for a Parameter Store parameter or secret:NAME for a secret"
    if kind == PARAMETER:
        problem = parameter_problem(name)
    elif kind == SECRET:
        problem = secret_problem(name)
    else:
        raise UserError(f"{text!r} is not a reference", where=where, hint=hint)
    if problem:
        raise UserError(f"{text!r}: {problem}", where=where, hint=hint)
    return Reference(kind, name)
