"""What a code-only deploy to AWS uploads, with the dependency layer and without it.

A project locked with uv (``pyproject.toml`` + ``uv.lock``) whose one dependency is a
wheel of ``--megabytes`` MB of incompressible data, written here (no network). Its
code changes between two packagings; the script prints the bytes of the code zip,
which is all a code-only deploy uploads now (the layer's key is unchanged), the bytes
of the layer zip (uploaded once, by the first deploy), and the bytes of one zip
holding both, which every code change uploaded when the dependencies travelled in the
code zip. Then the median time of packaging the code-only change (``--runs`` runs),
the layer found in teal's vendor cache.

    python benchmarks/dependency_layer.py [--megabytes 40] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

from teal.ops.decision import package_for
from teal.project.config import load_project, resolve_target
from teal.project.package import build_package
from teal.project.runtimes import uv_binary

TOML = """\
[app]
name = "bench"
entry = "app:app"
runtime = "python3.11"
cloud = "aws"

[aws]
region = "us-east-1"
"""

APP = """\
from teal import App

app = App()
VERSION = {version}


@app.route("/version")
def version(request):
    return {{"version": VERSION}}
"""

PYPROJECT = """\
[project]
name = "bench"
version = "1.0"
requires-python = ">=3.11"
dependencies = ["benchbulk==1.0"]

[tool.uv]
find-links = ["{wheels}"]
no-index = true
"""


def bulky_wheel(folder: Path, megabytes: int) -> None:
    info = "benchbulk-1.0.dist-info"
    with zipfile.ZipFile(folder / "benchbulk-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("benchbulk/__init__.py", "")
        archive.writestr("benchbulk/data.bin", os.urandom(megabytes * 1024 * 1024))
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: benchbulk\nVersion: 1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")
        os.environ["TEAL_RUNTIMES_CACHE"] = str(root / "runtimes")
        wheels, project = root / "wheels", root / "bench"
        wheels.mkdir()
        project.mkdir()
        bulky_wheel(wheels, args.megabytes)
        (project / "teal.toml").write_text(TOML)
        (project / "app.py").write_text(APP.format(version=1))
        (project / "pyproject.toml").write_text(PYPROJECT.format(wheels=wheels))
        uv = uv_binary()
        assert uv is not None, "uv is a dependency of teal"
        subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=project, check=True)

        first = package_for(resolve_target(load_project(project)))
        [layer] = first.layers
        assert layer.data is not None
        timings = []
        for run in range(args.runs):
            (project / "app.py").write_text(APP.format(version=run + 2))
            started = time.perf_counter()
            changed = package_for(resolve_target(load_project(project)))
            timings.append(time.perf_counter() - started)
            assert changed.layers[0].key == layer.key and changed.key != first.key
        together = build_package(project, layer.folder)
        print(f"dependency: {args.megabytes} MB of incompressible data")
        print(f"code zip (a code-only deploy uploads this):  {len(changed.data):>12,} bytes")
        print(f"layer zip (uploaded once, by the first):      {len(layer.data):>12,} bytes")
        print(f"one zip of both (every code change, before):  {len(together.data):>12,} bytes")
        print(
            f"packaging a code-only change, median of {args.runs}: "
            f"{statistics.median(timings) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
