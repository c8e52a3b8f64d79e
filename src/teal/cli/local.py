"""``teal local start|stop|status|reset``: the embedded local cloud's gateway and state."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.markup import escape

from teal.cli.common import (
    accepts_project,
    confirm_deletion,
    console,
    emit_json,
    err_console,
    gateway_sentence,
    json_option,
)
from teal.cloud.local import (
    GatewayStatus,
    LocalPaths,
    ensure_gateway,
    gateway_status,
    log_file,
    overview,
    refuse_dangerous_home,
    reset_home,
    stop_gateway,
)
from teal.project.settings import gateway_port


def _status_json(status: GatewayStatus, paths: LocalPaths) -> dict[str, Any]:
    uptime = status.uptime_s(time.time())
    supervision = status.supervision
    return {
        "running": status.running,
        "url": status.url,
        "pid": status.pid,
        "port": status.port,
        "uptime_s": None if uptime is None else round(uptime, 1),
        "home": str(paths.home),
        "log": str(log_file(paths)),
        # state (serving, starting, restarting, stopped), restarts, last_restart, down_since
        **status.health().to_json(),
        "supervisor_pid": supervision.pid if supervision is not None else None,
    }


def _workers_json(status: GatewayStatus) -> dict[str, Any]:
    """The gateway's workers and the memory they and the gateway hold (RSS)."""
    memory = None
    if status.gateway_rss_bytes is not None:
        memory = {
            "gateway_rss_bytes": status.gateway_rss_bytes,
            "workers_rss_bytes": status.workers_rss_bytes,
            "total_rss_bytes": status.gateway_rss_bytes + status.workers_rss_bytes,
        }
    return {"workers": [w.to_json() for w in status.workers], "memory": memory}


@click.group()
def local() -> None:
    """The embedded local cloud: its gateway process and its state ($TEAL_HOME)."""


@local.command()
@json_option
@accepts_project
def start(as_json: bool) -> None:
    """Start the local gateway in the background (returns when it answers)."""
    paths = LocalPaths.default()
    was_running = gateway_status(paths).running
    status = ensure_gateway(paths, gateway_port())
    if as_json:
        emit_json({**_status_json(status, paths), "started": not was_running})
        return
    verb = "already running" if was_running else "started"
    console.print(f"local gateway {verb} at {status.url} (pid {status.pid})")


@local.command()
@json_option
@accepts_project
def stop(as_json: bool) -> None:
    """Stop the local gateway and its workers."""
    paths = LocalPaths.default()
    stopped = stop_gateway(paths)
    if as_json:
        emit_json({"stopped": stopped.running, "pid": stopped.pid, "home": str(paths.home)})
    elif stopped.running:
        console.print(f"stopped the local gateway (pid {stopped.pid})")
    else:
        console.print("no local gateway was running")


@local.command()
@json_option
@accepts_project
def status(as_json: bool) -> None:
    """Show the gateway (URL, pid, uptime), its workers and their memory, and the APIs and
    domains it serves."""
    paths = LocalPaths.default()
    running = gateway_status(paths)
    payload = {**_status_json(running, paths), **_workers_json(running), **overview(paths)}
    if as_json:
        emit_json(payload)
        return
    _print_status(payload)


def _print_status(payload: dict[str, Any]) -> None:
    if payload["running"]:
        console.print(
            f"local gateway at {payload['url']} (pid {payload['pid']}, "
            f"up {payload['uptime_s']:.0f}s)"
        )
        if payload["restarts"]:
            console.print(escape(gateway_sentence(payload)))
    elif payload["state"] in ("starting", "restarting"):
        console.print(escape(gateway_sentence(payload)))
    else:
        console.print("local gateway: not running (teal local start)")
    console.print(f"state: {escape(payload['home'])}")
    console.print(f"log: {escape(payload['log'])}")
    if not payload["apis"]:
        console.print("  no APIs (deploy an app: teal deploy)")
    for api in payload["apis"]:
        console.print(f"  api {api['name']} ({api['id']}) stage {api['stage']}: {api['endpoint']}")
    for domain in payload["domains"]:
        targets = ", ".join(
            f"/{m['base_path']} -> {m['api_id']}/{m['stage']}" for m in domain["mappings"]
        )
        console.print(f"  domain {domain['name']}: {domain['url']}  {targets}")
    _print_workers(payload)


def _print_workers(payload: dict[str, Any]) -> None:
    memory = payload["memory"]
    if memory is None:
        return
    workers = payload["workers"]
    busy = sum(w["state"] == "busy" for w in workers)
    console.print(
        f"workers: {len(workers)} ({busy} busy), {_mb(memory['workers_rss_bytes'])}; "
        f"gateway {_mb(memory['gateway_rss_bytes'])}; total {_mb(memory['total_rss_bytes'])}"
    )
    for w in workers:
        since = "" if w["state"] == "busy" else f" for {w['idle_s']:.0f}s"
        console.print(
            f"  {w['function']} {w['version']}  pid {w['pid']}  {w['state']}{since}  "
            f"{_mb(w['rss_bytes'])}"
        )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@local.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@accepts_project
def reset(yes: bool, as_json: bool) -> None:
    """Stop the gateway and delete everything in $TEAL_HOME (stacks, APIs, code, logs)."""
    paths = LocalPaths.default()
    refuse_dangerous_home(paths)
    if not yes:
        confirm_deletion(
            f"Delete everything under {paths.home}?",
            refusal=f"reset deletes everything under {paths.home}",
            where="teal local reset",
            hint="pass --yes to confirm without a terminal",
        )
    stopped, removed = reset_home(paths)
    if as_json:
        emit_json(
            {"reset": True, "home": str(paths.home), "removed": removed, "stopped_pid": stopped.pid}
        )
    else:
        err_console.print(f"local cloud reset: emptied {escape(str(paths.home))}")


def register(group: click.Group) -> None:
    group.add_command(local)
