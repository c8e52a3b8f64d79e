"""teal's packages stand in layers, and every import goes down (or stays level).

Every import counts, wherever it is written: at the top of a module, inside a
function, or under ``TYPE_CHECKING``, since any of them ties two modules
together as much as the others. A module's layer is its package, so a new
module obeys the rules by being put in the right folder; nothing here lists
modules by hand. The layers, bottom up (docs/architecture.md draws them):

- ``teal.runtime`` (with ``teal`` itself, the face app code imports): what
  ships to Lambda, standard library only;
- ``teal.processes`` and ``teal.progress``: two small foundations;
- ``teal.rules``: AWS's rules, and the labels teal puts on what it deploys;
- ``teal.project``: reading a project;
- ``teal.template``: synthesis;
- ``teal.cloud.base``: the seam;
- ``teal.plan`` beside the clouds (``teal.cloud.aws``, ``teal.cloud.local``),
  which never import each other: the plan reasons through the seam, a cloud
  implements it;
- ``teal.ops``: operations, through the seam;
- ``teal.cloud`` (``open_cloud``), then the CLI, which reaches the local
  cloud through its face (``teal.cloud.local``) only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import teal

SOURCE = Path(teal.__file__).resolve().parent.parent
LOCAL = "teal.cloud.local"
CLOUDS = ("teal.cloud.aws", "teal.cloud.local")

# Bottom up: a module imports its own layer and the layers below. Longest prefix wins; a
# package whose __init__ is a layer of its own above its subpackages ("teal", "teal.cloud")
# places that module alone, so a new module beside them must be given its place here.
LAYERS: dict[str, int] = {
    "teal": 0,
    "teal._version": 0,
    "teal.runtime": 0,
    "teal.processes": 1,
    "teal.progress": 1,
    "teal.rules": 2,
    "teal.project": 3,
    "teal.template": 4,
    "teal.cloud.base": 5,
    "teal.plan": 6,
    "teal.cloud.aws": 6,
    "teal.cloud.local": 6,
    "teal.ops": 7,
    "teal.cloud": 8,
    "teal.cli": 9,
    "teal.__main__": 9,
}
EXACT = {"teal", "teal.cloud"}
# Units of one layer that never import each other.
APART = (("teal.plan", "teal.cloud.aws"), ("teal.plan", "teal.cloud.local"), CLOUDS)


def module_files(package: str = "teal") -> dict[str, Path]:
    """Every module under ``package``, by its dotted name (a package by its own)."""
    found = {}
    for path in (SOURCE / package.replace(".", "/")).rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, modules: set[str]) -> Iterator[str]:
    """The modules ``name`` imports anywhere in its file; ``from a import b`` is ``a.b``
    when that is a module, else ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                inner = f"{base}.{alias.name}"
                yield inner if inner in modules else base


def import_graph(package: str = "teal") -> dict[str, set[str]]:
    files = module_files(package)
    names = set(files)
    return {
        name: {target for target in imported(name, path, names) if target in names} - {name}
        for name, path in files.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in path:
                circle = path[path.index(target) :]
                if not any(set(circle) == set(known) for known in found):
                    found.append([*circle, target])
            elif target not in done:
                walk(target, [*path, target])
        done.add(name)

    for start in sorted(graph):
        if start not in done:
            walk(start, [start])
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def unit_of(name: str) -> str | None:
    """The package prefix that places ``name``: the longest one in :data:`LAYERS`."""
    units = [unit for unit in LAYERS if name == unit or (unit not in EXACT and within(name, unit))]
    return max(units, key=len) if units else None


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer, or between two units kept apart."""
    wrong = []
    for name, targets in graph.items():
        for target in targets:
            here, there = unit_of(name), unit_of(target)
            if here is None or there is None:
                continue  # test_every_module_has_a_layer names it
            if LAYERS[there] > LAYERS[here]:
                wrong.append(f"{name} -> {target}: up from {here} to {there}")
            elif any({here, there} == set(pair) for pair in APART):
                wrong.append(f"{name} -> {target}: {here} and {there} stay apart")
    return sorted(wrong)


def test_teal_has_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_every_module_has_a_layer() -> None:
    """A new top-level module or package (or a module beside cloud/base.py) must be
    given its place here, on purpose."""
    assert sorted(name for name in import_graph() if unit_of(name) is None) == []
    assert unit_of("teal.newthing") is None and unit_of("teal.cloud.extra") is None


def test_every_import_goes_down_or_stays_level() -> None:
    assert wrong_imports(import_graph()) == []


def test_an_upward_import_is_found() -> None:
    """The check itself: the runtime importing config, a cloud importing an operation
    and the plan importing a cloud are each reported."""
    graph = {
        "teal.runtime.routes": {"teal.project.config"},
        "teal.cloud.local.cloud": {"teal.ops.deploy"},
        "teal.plan.analysis": {"teal.cloud.local.store"},
        "teal.ops.deploy": {"teal.plan.analysis", "teal.cloud.base"},
    }
    assert wrong_imports(graph) == [
        "teal.cloud.local.cloud -> teal.ops.deploy: up from teal.cloud.local to teal.ops",
        "teal.plan.analysis -> teal.cloud.local.store: teal.plan and teal.cloud.local stay apart",
        "teal.runtime.routes -> teal.project.config: up from teal.runtime to teal.project",
    ]


def test_the_operations_reach_a_cloud_through_the_seam_only() -> None:
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if within(name, "teal.ops")
        for target in targets
        if any(within(target, cloud) for cloud in CLOUDS)
    )
    assert wrong == []


def test_the_cli_reaches_the_local_cloud_through_its_face_only() -> None:
    """``teal.cloud.local`` itself is the face; ``teal.cloud`` opens either cloud."""
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if within(name, "teal.cli")
        for target in targets
        if (within(target, LOCAL) and target != LOCAL) or within(target, "teal.cloud.aws")
    )
    assert wrong == []


def runtime_modules() -> dict[str, Path]:
    files = module_files()
    shipped = {name: path for name, path in files.items() if within(name, "teal.runtime")}
    return {"teal": files["teal"], "teal._version": files["teal._version"], **shipped}


def test_the_runtime_needs_only_the_standard_library() -> None:
    """Everything in teal.runtime ships to Lambda, with teal's face: nothing else of
    teal's (however the import is written: absolute, ``from teal import x``, relative),
    and no third-party package, may be imported there."""
    files = module_files()
    shipped = set(runtime_modules())
    wrong = []
    for name, path in sorted(runtime_modules().items()):
        for target in imported(name, path, set(files)):
            if within(target, "teal"):
                if target not in shipped:
                    wrong.append(f"{name} imports {target}, which a Lambda package does not carry")
            elif target.split(".")[0] not in {"__future__", *sys.stdlib_module_names}:
                wrong.append(f"{name} imports {target}, which is not in the standard library")
    assert wrong == []


def test_what_ships_is_the_runtime_package() -> None:
    from teal.project.package import runtime_files

    shipped = {
        ".".join(["teal", *Path(name).with_suffix("").parts]).removesuffix(".__init__")
        for name in runtime_files()
    }
    assert shipped == set(runtime_modules())


def test_only_the_local_cloud_imports_its_stack_engine() -> None:
    """Nested stacks reach the engine through the ChildStacks it is, passed in: no import."""
    graph = import_graph(LOCAL)
    importers = {name for name, targets in graph.items() if f"{LOCAL}.stacks.engine" in targets}
    assert importers == {f"{LOCAL}.cloud"}


def test_a_circle_is_found_wherever_its_imports_are_written(tmp_path: Path) -> None:
    """The check itself: a circle closed inside a function and under TYPE_CHECKING is seen."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c", "a"]]
    late = tmp_path / "late.py"
    late.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from teal.cloud.local.stacks import engine\n"
        "def f():\n    from teal.cloud.local.stacks.ledger import Ledger\n"
    )
    modules = {f"{LOCAL}.stacks.engine", f"{LOCAL}.stacks.ledger"}
    assert set(imported(f"{LOCAL}.late", late, modules)) == {"typing", *modules}


@pytest.mark.parametrize("folder", ["src/teal", "src/teal/cloud/local"])
def test_a_folder_holds_at_most_twelve_entries(folder: str) -> None:
    """Past a dozen side by side, a folder stops showing its layers: group them. Modules
    and packages count alike; a package's __init__, __main__ and _version do not."""
    root = SOURCE.parent / folder
    entries = [
        p.name
        for p in root.iterdir()
        if (p.suffix == ".py" and p.name not in {"__init__.py", "__main__.py", "_version.py"})
        or (p.is_dir() and (p / "__init__.py").exists())
    ]
    assert len(entries) <= 12, sorted(entries)


def loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The teal modules under ``prefixes`` a fresh interpreter has loaded after
    ``statement``: what importing really costs, beyond what the source says."""
    probe = (
        f"import sys; {statement}; "
        f"print('\\n'.join(m for m in sys.modules if m.startswith({prefixes!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return sorted(done.stdout.split())


def test_every_command_loads_the_local_clouds_face_but_not_its_control_plane() -> None:
    """The CLI loads every command module, so the face stays light: no stack engine, no
    store of stacks, no console pages until a command needs them."""
    heavy = (f"{LOCAL}.cloud", f"{LOCAL}.stacks", f"{LOCAL}.console", f"{LOCAL}.functions")
    assert loaded_after("import teal.cli", heavy) == []


def test_the_gateway_process_loads_no_control_plane() -> None:
    """The data plane serves from the store's serving state: the stack engine, the
    operations and the plan stay out of the gateway process."""
    control = (f"{LOCAL}.cloud", f"{LOCAL}.stacks.engine", "teal.ops", "teal.plan", "teal.cli")
    assert loaded_after(f"import {LOCAL}.gateway.main", control) == []
