"""Before anything changes: every parameter and secret teal.toml refers to must exist.

The values are fetched by the functions at cold start; a reference to nothing
would deploy, and then fail every cold start. So the deploy (and the plan)
asks the cloud first and refuses, exit 2, naming the first missing one and
where teal.toml refers to it. The cloud answers from metadata, never a value.
"""

from __future__ import annotations

from teal.cloud.base import Cloud
from teal.project.config import Target, load_project
from teal.project.secret_refs import ReferenceTable
from teal.runtime.errors import ConfigError
from teal.runtime.secrets import Reference


def referenced(target: Target) -> dict[tuple[str, ...], Reference]:
    """Every reference of the environment, by the teal.toml key that makes it."""
    found: dict[tuple[str, ...], Reference] = {}
    tables: list[tuple[tuple[str, ...], dict[str, object]]] = [
        (("app", "environment"), dict(target.variables))
    ]
    tables += [
        (("functions", name, "environment"), dict(settings.variables))
        for name, settings in sorted(target.functions.items())
    ]
    for table, variables in tables:
        for variable, value in sorted(variables.items()):
            if isinstance(value, ReferenceTable):
                found[(*table, variable)] = value.reference()
    return found


def refuse_missing_references(cloud: Cloud, target: Target) -> None:
    """:class:`ConfigError` naming the first reference the cloud does not hold."""
    references = referenced(target)
    if not references:
        return
    missing = set(cloud.missing_references(sorted(set(references.values()), key=_ref_of)))
    for key, reference in references.items():
        if reference.ref in missing:
            raise _missing(target, key, reference, cloud.name, len(missing))


def _ref_of(reference: Reference) -> str:
    return reference.ref


def _missing(
    target: Target, key: tuple[str, ...], reference: Reference, cloud: str, count: int
) -> ConfigError:
    project = load_project(target.project_dir)
    variable = key[-1]
    # an env's own table wins over the file's: [env.X.environment], [env.X.functions...]
    scoped = ("env", target.env, *(key[1:] if key[0] == "app" else key))
    where = project.location(scoped, key)
    others = f" ({count - 1} more missing)" if count > 1 else ""
    if cloud == "local":
        what = (
            f"{variable} refers to {reference.ref}, which the local cloud's secrets store "
            "does not hold"
        )
        hint = (
            f"run `teal secrets set {reference.ref} -` and type the value (or pass it, or "
            "--from-file FILE), then deploy again"
        )
    elif reference.kind == "ssm":
        what = f"{variable} refers to the parameter {reference.name}, which does not exist"
        hint = (
            f"create the parameter {reference.name} in Parameter Store (String or SecureString) "
            "in the account and region you deploy to, or correct the name in teal.toml"
        )
    else:
        what = f"{variable} refers to the secret {reference.name}, which does not exist"
        hint = (
            f"create the secret {reference.name} in Secrets Manager in the account and region "
            "you deploy to, or correct the name in teal.toml"
        )
    return ConfigError(f"{what}; nothing was changed{others}", where=where, hint=hint)
