"""``teal invoke``: run one function of the environment once, with an event."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.markup import escape

from teal.cli.common import console, emit_json, err_console, load_target, progress, target_options
from teal.cli.exits import Reported
from teal.cloud import open_cloud
from teal.ops.environments import Environment, find_environment
from teal.ops.invoke import InvokeReport, SampleRequest, invoke, sample_request
from teal.project.config import Target
from teal.project.loader import target_routes
from teal.runtime.errors import UserError


@click.command(name="invoke")
@click.argument("function")
@target_options
@click.option(
    "--event",
    "event_from",
    metavar="FILE|-",
    default=None,
    help="The event, as JSON, from FILE or from stdin (-). Default: a sample API Gateway "
    "proxy request for one of the function's routes.",
)
@click.option(
    "--path",
    "request_path",
    metavar="PATH",
    default=None,
    help="Make the sample request for PATH (after the stage, a query string allowed: "
    "'/posts/42?draft=1'); it must be one of FUNCTION's routes.",
)
@click.option(
    "--method",
    "request_method",
    metavar="METHOD",
    default=None,
    help="The sample request's method (GET by default with --path; without it, the "
    "function's first route that takes METHOD).",
)
def invoke_command(
    *,
    function: str,
    project: Path,
    env: str | None,
    extra: str | None,
    cloud: str | None,
    as_json: bool,
    event_from: str | None,
    request_path: str | None,
    request_method: str | None,
) -> None:
    """Invoke FUNCTION once, synchronously, as Lambda's Invoke does: print its result,
    its error if it failed, or the 5xx a proxy request was answered with (exit 1 for
    both), and its log lines."""
    if event_from is not None and (request_path or request_method) is not None:
        raise UserError(
            "--path and --method shape the sample request, which --event replaces",
            where="--event",
            hint="put the path and method in the event's path and httpMethod, or drop --event",
        )
    _, target = load_target(project, env, extra, cloud)
    event = read_event(event_from) if event_from is not None else None
    the_cloud = open_cloud(target)
    environment = find_environment(the_cloud, target)
    if event is None:
        table = target_routes(target, progress)
        sample = sample_request(table, function, path=request_path, method=request_method)
        event = sample_event(target, environment, environment.endpoint(the_cloud), sample)
    report = invoke(the_cloud, target, function, event)
    if as_json:
        emit_json(report.to_json())
    else:
        _print_report(report)
    if report.failed:
        raise Reported  # the error (or the 5xx answer) is in the report above


def read_event(source: str) -> Any:
    """The event from a file or stdin: JSON, else bad input (exit 2)."""
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        raise UserError(
            f"cannot read the event: {reason or exc}",
            where=where,
            hint="give a JSON file, or - to read it from stdin",
        ) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(
            f"the event is not JSON: {exc}", where=where, hint="an event is one JSON value"
        ) from exc


def sample_event(
    target: Target, environment: Environment, endpoint: str | None, sample: SampleRequest
) -> dict[str, Any]:
    """The proxy event API Gateway would send for the sample request."""
    # the local gateway's own event builder: the sample is what API Gateway sends
    from teal.rules.proxy_events import IncomingRequest, RequestSource, build_proxy_event

    host = urlsplit(endpoint).netloc if endpoint else "localhost"
    stage = environment.stage or target.stage
    source = RequestSource(
        api_id=environment.api_id or "",
        stage=stage,
        resource_path=sample.resource_path,
        path=sample.path,
        context_path=f"/{stage}{sample.path}",
        domain_name=host,
        path_parameters=sample.path_parameters,
    )
    headers = (("Host", host), ("User-Agent", "teal-invoke"), ("Accept", "*/*"))
    request = IncomingRequest(sample.method, sample.query, headers, b"")
    shown = sample.path + (f"?{sample.query}" if sample.query else "")
    progress(f"event: a sample {sample.method} {shown} (route {sample.resource_path})")
    return build_proxy_event(request, source, request_id=str(uuid.uuid4()), now=time.time())


def _print_report(report: InvokeReport) -> None:
    call = report.invocation
    err_console.print(
        f"[bold]»[/] {escape(report.function)} ({escape(call.function_name)}), "
        f"request {call.request_id}, {call.duration_ms:.1f} ms"
    )
    if call.logs:
        console.print(f"[dim]{escape(call.logs.rstrip())}[/]")
    if call.error is not None:
        console.print(
            f"[bold red]error:[/] {escape(call.error.type)}: {escape(call.error.message)}"
        )
    elif report.server_error is not None:
        console.print(
            f"[bold red]error:[/] the function answered HTTP {report.server_error} (its "
            "handler failed: see the log lines above)"
        )
        return
    console.print(json.dumps(call.result, indent=2, ensure_ascii=False), markup=False)


def register(group: click.Group) -> None:
    group.add_command(invoke_command)
