"""Where each environment of the local cloud was deployed from: its project folder.

The web console switches and rolls back by running ``teal switch`` or ``teal
rollback`` in the project, so the domain, the checks and the routes come from
the project's own teal.toml, as they do for the CLI. The stack does not say
where that folder is (its tags go to AWS too, and a path there would change
with every checkout), so a local deploy records it here, one small file per
environment under ``$TEAL_HOME/projects/``, written whole or not at all.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from teal.cloud.local.paths import LocalPaths


@dataclass(frozen=True)
class ProjectRecord:
    """The project folder an environment was last deployed from, and its env name."""

    environment: str
    env: str
    root: Path


def _folder(paths: LocalPaths) -> Path:
    return paths.home / "projects"


def _file(paths: LocalPaths, environment: str) -> Path:
    return _folder(paths) / f"{quote(environment, safe='')}.json"


def remember_project(paths: LocalPaths, environment: str, env: str, root: Path) -> None:
    """Record (atomically) that ``environment`` was deployed from ``root``."""
    folder = _folder(paths)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {"environment": environment, "env": env, "root": str(root.resolve())}
    fd, scratch = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.replace(scratch, _file(paths, environment))
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def project_of(paths: LocalPaths, environment: str) -> ProjectRecord | None:
    """The recorded project of an environment, or None (deployed before records, or by
    another tool)."""
    try:
        data = json.loads(_file(paths, environment).read_text())
        return ProjectRecord(str(data["environment"]), str(data["env"]), Path(data["root"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
