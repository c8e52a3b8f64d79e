"""What a function's role needs to fetch the values its references name, and no more.

teal's runtime fetches the values at cold start (:mod:`teal.runtime.secrets`):
Parameter Store's ``GetParameters`` (``GetParameter`` too, for the app's own
calls of one name), Secrets Manager's ``GetSecretValue``, each on the ARNs of
the referenced names alone. A secret's ARN ends in ``-`` and six random
characters Secrets Manager adds, hence ``-??????``. ``kms:Decrypt`` is granted
on a customer managed key a reference names (``kms_key``): the services
decrypt with the caller's rights, and AWS's own keys need no grant.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from teal.project.config import FunctionSettings, Target
from teal.project.secret_refs import KMS_KEY_ARN, ReferenceTable
from teal.runtime.secrets import Reference

SECRETS_POLICY = "teal-secrets"  # the inline policy of a function with references
PARAMETER_ACTIONS = ("ssm:GetParameters", "ssm:GetParameter")
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
DECRYPT_ACTIONS = ("kms:Decrypt",)
_ARN = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:{resource}"


def reference_arn(reference: Reference) -> dict[str, str]:
    """The ARN (an ``Fn::Sub``) IAM matches a parameter or a secret by."""
    if reference.kind == "ssm":
        resource = f"parameter/{reference.name.lstrip('/')}"
        return {"Fn::Sub": _ARN.replace("{service}", "ssm").replace("{resource}", resource)}
    resource = f"secret:{reference.name}-??????"
    return {"Fn::Sub": _ARN.replace("{service}", "secretsmanager").replace("{resource}", resource)}


def key_arn(key: str) -> Any:
    """A KMS key's ARN as written, or (an id) in the stack's account and region."""
    if KMS_KEY_ARN.match(key):
        return key
    return {"Fn::Sub": _ARN.replace("{service}", "kms").replace("{resource}", f"key/{key}")}


def function_kms_keys(target: Target, function: str) -> list[str]:
    """The customer keys the function's references name, in order, once each."""
    own = target.functions.get(function, FunctionSettings())
    merged = {**target.variables, **own.variables}
    keys = [v.kms_key for v in merged.values() if isinstance(v, ReferenceTable) and v.kms_key]
    return sorted(set(keys))


def secrets_policy(
    references: Mapping[str, Reference], kms_keys: Collection[str]
) -> dict[str, Any] | None:
    """The role's inline policy for the references, or None when there are none."""
    if not references:
        return None
    kinds = {
        "ssm": PARAMETER_ACTIONS,
        "secret": SECRET_ACTIONS,
    }
    statements: list[dict[str, Any]] = []
    for kind, actions in kinds.items():
        named = sorted(
            {r.name: r for r in references.values() if r.kind == kind}.values(),
            key=lambda r: r.name,
        )
        if named:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": list(actions),
                    "Resource": [reference_arn(r) for r in named],
                }
            )
    if kms_keys:
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(DECRYPT_ACTIONS),
                "Resource": [key_arn(k) for k in kms_keys],
            }
        )
    return {
        "PolicyName": SECRETS_POLICY,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }
