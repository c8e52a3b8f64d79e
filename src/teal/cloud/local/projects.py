"""Where each environment of the local cloud was deployed from, and what its last
plan said.

The web console switches and rolls back by running ``teal switch`` or ``teal
rollback`` in the project, so the domain, the checks and the routes come from
the project's own teal.toml, as they do for the CLI. The stack does not say
where that folder is (its tags go to AWS too, and a path there would change
with every checkout), so a local deploy records it here, one small file per
environment under ``$TEAL_HOME/projects/``, written whole or not at all.

Beside it, the last plan of the environment (``teal plan``, or the plan a
``teal deploy`` acted on), in the user's words: the console's route table shows
it next to what each stage serves.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from teal.cloud.base import PlanSummary
from teal.cloud.local.paths import LocalPaths


@dataclass(frozen=True)
class ProjectRecord:
    """The project folder an environment was last deployed from, and its env name."""

    environment: str
    env: str
    root: Path


def _folder(paths: LocalPaths) -> Path:
    return paths.home / "projects"


def _file(paths: LocalPaths, environment: str, kind: str = "") -> Path:
    return _folder(paths) / f"{quote(environment, safe='')}{kind}.json"


def _write(paths: LocalPaths, file: Path, record: Mapping[str, Any]) -> None:
    """Write ``record`` as ``file`` whole or not at all."""
    folder = _folder(paths)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.replace(scratch, file)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def remember_project(paths: LocalPaths, environment: str, env: str, root: Path) -> None:
    """Record (atomically) that ``environment`` was deployed from ``root``."""
    record = {"environment": environment, "env": env, "root": str(root.resolve())}
    _write(paths, _file(paths, environment), record)


def remember_plan(paths: LocalPaths, environment: str, plan: PlanSummary) -> None:
    """Record (atomically) the environment's latest plan."""
    _write(paths, _file(paths, environment, ".plan"), asdict(plan))


def last_plan(paths: LocalPaths, environment: str) -> PlanSummary | None:
    """The latest recorded plan of an environment, or None."""
    try:
        return PlanSummary.from_json(json.loads(_file(paths, environment, ".plan").read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def project_of(paths: LocalPaths, environment: str) -> ProjectRecord | None:
    """The recorded project of an environment, or None (deployed before records, or by
    another tool)."""
    try:
        data = json.loads(_file(paths, environment).read_text())
        return ProjectRecord(str(data["environment"]), str(data["env"]), Path(data["root"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
