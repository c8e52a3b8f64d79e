"""Each concern that could leak across the code has one home, read from the source.

Processes and signals to a group live in ``teal.processes``, exit codes in
``teal.cli.exits``, the tags and outputs teal labels its stacks with in
``teal.rules.labels``, and nothing outside ``teal.cloud`` asks which cloud it
holds: the seam says what a cloud does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from teal.rules import labels
from test_layering import module_files, within

# The worker runs in the runtime's Python with the standard library only (no psutil, no
# teal): it ends its own process group itself.
WORKER = "teal.cloud.local.functions.worker_main"
# Processes of their own whose main returns the process's exit status.
PROCESS_MAINS = {
    WORKER,
    "teal.project.introspect",
    "teal.cloud.local.gateway.main",
    "teal.cloud.local.gateway.supervisor",
}


def nodes() -> Iterator[tuple[str, ast.AST]]:
    for name, path in sorted(module_files().items()):
        for node in ast.walk(ast.parse(path.read_text())):
            yield name, node


def calls(name_of_call: str) -> list[str]:
    return sorted(
        name
        for name, node in nodes()
        if isinstance(node, ast.Call) and ast.unparse(node.func) == name_of_call
    )


def test_processes_are_asked_about_through_teal_processes_only() -> None:
    """No module reads another process's /proc or probes a pid with a signal 0 itself:
    psutil, behind teal.processes, does it on every platform (macOS has no /proc). A
    worker may read its own /proc/self (it runs without psutil, and says what it
    does where there is none)."""
    found = []
    for name, node in nodes():
        if name == "teal.processes":
            continue
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


def names_used(name_of_thing: str) -> list[str]:
    """The modules that name ``name_of_thing`` at all: a name, an attribute, an import."""
    found = set()
    for name, node in nodes():
        if (
            (isinstance(node, ast.Name) and node.id == name_of_thing)
            or (isinstance(node, ast.Attribute) and node.attr == name_of_thing)
            or (
                isinstance(node, ast.alias)
                and name_of_thing in (node.name, node.name.split(".")[0])
            )
        ):
            found.add(name)
    return sorted(found)


def test_psutil_and_group_kills_live_in_teal_processes() -> None:
    assert names_used("psutil") == ["teal.processes"]
    assert names_used("killpg") == sorted(["teal.processes", WORKER])
    negative_kills = sorted(  # os.kill(-pgid, ...) signals a whole group too
        name
        for name, node in nodes()
        if isinstance(node, ast.Call)
        and ast.unparse(node.func).endswith("kill")
        and node.args
        and isinstance(node.args[0], ast.UnaryOp)
        and isinstance(node.args[0].op, ast.USub)
    )
    assert negative_kills == []


def test_exit_codes_are_decided_by_the_cli_alone() -> None:
    """A command raises teal's errors or cli.exits' signals; it never exits with a number."""
    exits = sorted(
        name
        for name, node in nodes()
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) in {"sys.exit", "click.exceptions.Exit", "ctx.exit", "exit"}
    )
    assert set(exits) - PROCESS_MAINS == {"teal.cli"}  # run(): sys.exit(main())
    assert set(names_used("SystemExit")) - PROCESS_MAINS == set()
    assert set(names_used("Exit")) - {"teal.cli"} == set()  # click's, caught in main()


def label_values() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(labels).items()
        if name.isupper() and isinstance(value, str)
    }


def test_each_tag_and_output_name_is_written_once() -> None:
    """``teal:app`` once, in rules/labels.py: every other module imports it."""
    values = set(label_values().values())
    written = sorted(
        f"{name}: {node.value!r}"
        for name, node in nodes()
        if isinstance(node, ast.Constant)
        and node.value in values
        and name != "teal.rules.labels"
        and not _is_a_cloudformation_property(name, node)
    )
    assert written == []


def _is_a_cloudformation_property(module: str, node: ast.Constant) -> bool:
    """``RestApiId`` and ``StageName`` are also AWS's own property names (a Method's
    ``RestApiId``), which synthesis, the analysis and the local providers write: a
    different concept with the same spelling."""
    return node.value in {"RestApiId", "StageName"} and (
        within(module, "teal.template")
        or within(module, "teal.plan")
        or within(module, "teal.cloud.local.stacks.resources")
    )


def test_nothing_outside_the_clouds_names_a_concrete_cloud() -> None:
    """Above the seam a cloud is a ``Cloud``: no module outside teal.cloud names
    LocalCloud or AwsCloud (no isinstance, no import, no type(...).__name__ test)."""
    named = {*names_used("LocalCloud"), *names_used("AwsCloud")}
    written = {
        name
        for name, node in nodes()
        if isinstance(node, ast.Constant) and node.value in ("LocalCloud", "AwsCloud")
    }
    assert sorted(name for name in named | written if not within(name, "teal.cloud")) == []


def test_these_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The checks' own reading: a call and a constant are found in a module's source."""
    source = tmp_path / "probe.py"
    source.write_text("import os, signal\nos.killpg(1, signal.SIGKILL)\nTAG = 'teal:app'\n")
    tree = ast.parse(source.read_text())
    assert any(
        isinstance(n, ast.Call) and ast.unparse(n.func) == "os.killpg" for n in ast.walk(tree)
    )
    assert any(
        isinstance(n, ast.Constant) and n.value in label_values().values() for n in ast.walk(tree)
    )
