"""How ``teal status`` reads in a terminal of any width.

Wide enough for every column at its natural width, the environments and the history
are tables; narrower, each environment is a small block whose endpoint has a line of
its own, so nothing is ever cut short (a cut endpoint cannot be copied). Times are
relative ("3 min ago"); ``--wide`` prints the tables whatever the width, with local
times in full, and ``--json`` keeps the exact values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from teal.cli.common import gateway_sentence
from teal.cloud.base import Traffic
from teal.ops import bluegreen
from teal.ops.domains import MappingRow

HISTORY_SHOWN = 15  # the last entries; --json has them all


def print_status(
    report: bluegreen.StatusReport, out: Console, *, wide: bool, now: datetime | None = None
) -> None:
    clock = now or datetime.now(UTC)
    when: Callable[[str], str] = _local_time if wide else (lambda iso: ago(iso, clock))
    environments = [_environment_cells(row, when) for row in report.environments]
    if not environments:
        out.print("no environments deployed")
    elif not _printed_as_table(ENVIRONMENT_COLUMNS, environments, out, wide=wide):
        for cells in environments:
            _print_environment_block(dict(zip(ENVIRONMENT_COLUMNS, cells, strict=True)), out)
    for d in report.domains:
        out.print(
            f"domain {d.name}: {d.url or '-'} serves {d.live or 'nothing'} "
            f"(previous: {d.previous or '-'})",
            markup=False,
        )
        if d.preview is not None:
            out.print(
                f"  previews {d.preview.environment or d.preview.rule.api_id} for requests "
                f"with {d.preview.header}",
                markup=False,
            )
        print_mappings(d.mappings, out)
    gateway = report.gateway
    if gateway is not None and (gateway.state != "serving" or gateway.restarts):
        out.print(gateway_sentence(gateway.to_json()), markup=False)
    for lock in report.locks:
        state = f"stale: {lock.stale}" if lock.stale else "held"
        out.print(f"lock {lock.held.key}: {escape(lock.held.owner.describe())} ({state})")
    history = [_history_cells(entry.to_json(), when) for entry in report.history[-HISTORY_SHOWN:]]
    if not history:
        return
    if _printed_as_table(HISTORY_COLUMNS, history, out, wide=wide):
        return
    out.print("history:")
    for cells in history:
        h = dict(zip(HISTORY_COLUMNS, cells, strict=True))
        # a move names both ends; anything else its environment (a deploy's endpoint,
        # kept in "to", is in the environment's block above)
        moved = f"{h['from']} → {h['to']}" if h["from"] != "-" else h["environment"]
        out.print(
            f"  {h['time']}  {h['action']} {moved}  {h['result']} ({h['user']})", markup=False
        )


def print_mappings(rows: Sequence[MappingRow], out: Console) -> None:
    """Every base path of a domain and whom it serves, one line each."""
    width = max((len(m.shown_path) for m in rows), default=0)
    for m in rows:
        out.print(f"  {m.shown_path:<{width}} → {mapping_target(m)}", markup=False)


def mapping_target(m: MappingRow) -> str:
    """``blog-dev (app blog, API abc123, stage dev), previews blog-dev-2``."""
    api = f"API {m.api_id}, stage {m.stage}"
    served = (
        f"{m.holder.environment} (app {m.holder.app}, {api})"
        if m.holder
        else f"{api} (no teal environment holds it)"
    )
    return served + (f", previews {m.preview}" if m.preview else "")


ENVIRONMENT_COLUMNS = ("environment", "status", "live", "endpoint", "updated", "code", "last 5 min")
HISTORY_COLUMNS = ("time", "user", "action", "environment", "from", "to", "result")


def _environment_cells(
    row: bluegreen.EnvironmentRow, when: Callable[[str], str]
) -> tuple[str, ...]:
    e = row.to_json()
    return (
        e["name"],
        e["status"],
        "●" if e["live"] else "",
        e["endpoint"] or "-",
        when(e["updated_at"]) if e["updated_at"] else "-",
        (e["code_sha256"] or "-")[:12],
        traffic_cell(row.traffic),
    )


def _print_environment_block(e: dict[str, str], out: Console) -> None:
    live = "  ● live" if e["live"] else ""
    out.print(f"{e['environment']}{live}", style="bold", markup=False, highlight=False)
    out.print(f"  {e['status']}, updated {e['updated']}, code {e['code']}", markup=False)
    out.print(f"  {e['endpoint']}", markup=False, soft_wrap=True)
    out.print(f"  last 5 min: {e['last 5 min']}", markup=False)


def _history_cells(h: dict[str, Any], when: Callable[[str], str]) -> tuple[str, ...]:
    return (
        when(h["time"]),
        h["user"],
        h["action"],
        h["environment"],
        str(h["from"] or "-"),
        str(h["to"] or "-"),
        history_result(h),
    )


def _natural_width(table: Table, out: Console) -> int:
    """The width the table takes with no cell wrapped or cut."""
    return Measurement.get(out, out.options.update(width=1_000_000), table).maximum


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(*columns, box=None)
    for cells in rows:
        table.add_row(*(escape(c) for c in cells))
    return table


def _printed_as_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], out: Console, *, wide: bool
) -> bool:
    """Print the table when it fits at its natural width, or (``wide``) whatever the
    width, as wide as it must be: the terminal then wraps its lines rather than rich
    cutting its cells. Whether it was printed."""
    table = _table(columns, rows)
    natural = _natural_width(table, out)
    if natural <= out.width:
        out.print(table)
        return True
    if not wide:
        return False
    roomy = Console(
        file=out.file,
        width=natural,
        highlight=False,
        soft_wrap=True,
        emoji=False,
        force_terminal=out.is_terminal,
        no_color=out.no_color,
    )
    roomy.print(table)
    return True


def ago(iso: str, now: datetime) -> str:
    """``just now``, ``40 s ago``, ``3 min ago``, ``5 h ago``, ``2 d ago``."""
    seconds = (now - _aware(datetime.fromisoformat(iso))).total_seconds()
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def _local_time(iso: str) -> str:
    return _aware(datetime.fromisoformat(iso)).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def traffic_cell(traffic: Traffic | None) -> str:
    """``120 req, 2 5xx, p50 12 ms, p99 80 ms``, or ``-``."""
    if traffic is None:
        return "-"
    if not traffic.requests:
        return "no requests"
    latency = (
        f", p50 {traffic.p50_ms:.0f} ms, p99 {traffic.p99_ms:.0f} ms"
        if traffic.p50_ms is not None and traffic.p99_ms is not None
        else ""
    )
    return f"{traffic.requests} req, {traffic.errors} 5xx{latency}"


def history_result(entry: dict[str, Any]) -> str:
    """A history entry's outcome in a word or two: a deploy's stack status, a skip."""
    if entry["state"] == "started":
        return "running"
    if entry["state"] == "interrupted":
        return "INTERRUPTED (its process died)"
    if entry.get("failed") or entry["state"] == "failed":
        return f"FAILED ({entry.get('status') or entry.get('error')})"
    if entry["action"] == "unlock":
        return "lock released" + (" (stale)" if entry.get("automatic") else "")
    watch = entry.get("watch")
    if isinstance(watch, dict):
        return f"watch: {watch.get('verdict')} ({watch.get('reason')})"
    if entry["action"] == "preview":
        return f"{entry.get('header')}" + (" ended" if entry.get("to") is None else "")
    if entry.get("checks_skipped"):
        return "checks skipped"
    return str(entry.get("status") or "")
