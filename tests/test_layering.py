"""teal's modules import one another in layers, with no circle.

Every import counts, wherever it is written: at the top of a module, inside
a function, or under ``TYPE_CHECKING``, since any of them ties two modules
together as much as the others. The layers, bottom up:

- the runtime shim (what a Lambda package carries): the standard library only;
- the core (routes, config, templates, analysis, deploy, blue-green...): it
  reaches a cloud through the seam, ``teal.cloud.base``, and nothing else;
- the clouds (``teal.cloud.aws``, ``teal.cloud.local``): they implement the
  seam, from the core's building blocks, never from its orchestration, and
  never from each other;
- the CLI on top.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import teal
from teal.project.package import runtime_files

SOURCE = Path(teal.__file__).resolve().parent.parent
LOCAL = "teal.cloud.local"
CLOUDS = ("teal.cloud.aws", "teal.cloud.local")
# What deploys and switches: a cloud implements the seam below it, never calls it.
ORCHESTRATION = {
    "teal.plan.analysis",
    "teal.ops.apply",
    "teal.ops.bluegreen",
    "teal.ops.checks",
    "teal.ops.decision",
    "teal.ops.deploy",
    "teal.ops.environments",
    "teal.ops.export",
    "teal.project.loader",
    "teal.ops.oplog",
    "teal.plan.changeset",
}


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


def layer(name: str) -> str:
    if within(name, "teal.cli") or name == "teal.__main__":
        return "cli"
    if any(within(name, cloud) for cloud in CLOUDS) or name == "teal.cloud":
        return "cloud"
    return "core"


def test_teal_has_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_core_reaches_a_cloud_through_the_seam_only() -> None:
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for target in targets
        if layer(name) == "core" and layer(target) != "core" and target != "teal.cloud.base"
    )
    assert wrong == []


def test_clouds_use_no_orchestration_no_cli_and_not_each_other() -> None:
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if any(within(name, cloud) for cloud in CLOUDS)
        for target in targets
        if target in ORCHESTRATION
        or layer(target) == "cli"
        or any(within(name, a) and within(target, b) for a in CLOUDS for b in CLOUDS if a != b)
    )
    assert wrong == []


def test_the_runtime_shim_needs_only_the_standard_library() -> None:
    shim = {
        ".".join(["teal", *Path(name).with_suffix("").parts]).removesuffix(".__init__")
        for name in runtime_files()
    }
    files = module_files()
    for name in sorted(shim):
        for node in ast.walk(ast.parse(files[name].read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
                roots = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                for root in roots:
                    assert root is not None
                    top = root.split(".")[0]
                    assert (
                        top == "__future__" or top in sys.stdlib_module_names or (root in shim)
                    ), f"{name} imports {root}, which a Lambda package does not carry"


def test_only_the_layer_above_imports_the_engine() -> None:
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
        "if TYPE_CHECKING:\n    from teal.cloud.local import engine\n"
        "def f():\n    from teal.cloud.local.stacks.ledger import Ledger\n"
    )
    modules = {f"{LOCAL}.engine", f"{LOCAL}.ledger"}
    assert set(imported(f"{LOCAL}.late", late, modules)) == {"typing", *modules}


def test_processes_are_asked_about_through_teal_processes_only() -> None:
    """No module reads another process's /proc or probes a pid with a signal 0 itself:
    psutil, behind teal.processes, does it on every platform (macOS has no /proc). A
    worker may read its own /proc/self (it runs without psutil, and says what it
    does where there is none)."""
    found = []
    for name, path in sorted(module_files().items()):
        if name == "teal.processes":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.startswith("/proc") and not node.value.startswith("/proc/self/"):
                    found.append(f"{name}: reads {node.value}")
            elif isinstance(node, ast.JoinedStr) and "/proc" in ast.unparse(node):
                found.append(f"{name}: reads {ast.unparse(node)}")
            elif (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "os.kill"
                and len(node.args) == 2
                and ast.unparse(node.args[1]) == "0"
            ):
                found.append(f"{name}: probes a pid with os.kill(pid, 0)")
    assert found == []
