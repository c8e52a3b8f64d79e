"""The function a watched switch's alarm invokes on AWS: it puts the mapping back.

Deployed inline (CloudFormation's ``ZipFile``, as ``index.py``) in the domain's
stack, with a role that may read and change that domain's base path mappings
and nothing else. The alarm's description holds the watch: the stage watched,
the mapping to put back and the deadline. The function re-points the mapping
only while the alarm is in ALARM, before the deadline, and while the domain
still serves the watched stage: a domain another switch moved is left alone.
Standard library and boto3 only (Lambda's Python runtime has both).
"""

import json
import time
from typing import Any

ROOT = "(none)"


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    import boto3  # imported here: the tests call repoint with their own client

    return repoint(event, boto3.client("apigateway"), time.time())


def repoint(event: dict[str, Any], client: Any, now: float) -> dict[str, Any]:
    data = event.get("alarmData") or {}
    state = (data.get("state") or {}).get("value")
    if state != "ALARM":
        return {"acted": False, "why": "the alarm is " + str(state)}
    watch = json.loads((data.get("configuration") or {}).get("description") or "{}")
    if now > watch["deadline"]:
        return {"acted": False, "why": "the watch ended"}
    domain, base = watch["domain"], watch["base_path"] or ROOT
    current = client.get_base_path_mapping(domainName=domain, basePath=base)
    if (current["restApiId"], current["stage"]) != (watch["api_id"], watch["stage"]):
        return {"acted": False, "why": "the domain no longer serves the watched stage"}
    client.update_base_path_mapping(
        domainName=domain,
        basePath=base,
        patchOperations=[
            {"op": "replace", "path": "/restapiId", "value": watch["back_api_id"]},
            {"op": "replace", "path": "/stage", "value": watch["back_stage"]},
        ],
    )
    return {"acted": True, "why": (data.get("state") or {}).get("reason", "")}
