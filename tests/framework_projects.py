"""The framework apps of ``tests/framework_apps``, copied into a test's own folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from e2e import LocalCloudEnv, free_port

APPS = Path(__file__).resolve().parent / "framework_apps"


def copy_app(name: str, into: Path) -> Path:
    """A fresh copy of ``framework_apps/<name>`` (``fastapi_app``, ``flask_app``...)."""
    project = into / name
    shutil.copytree(APPS / name, project)
    return project


def cloud_for(name: str, tmp_path: Path) -> LocalCloudEnv:
    """A private local cloud (its own TEAL_HOME and port) around a copy of the app."""
    return LocalCloudEnv(tmp_path / "teal-home", free_port(), copy_app(name, tmp_path))
