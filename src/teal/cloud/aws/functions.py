"""Lambda: one synchronous invocation with its log tail (``LogType=Tail``)."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.retry import Retrier, error_code
from teal.cloud.base import FunctionError, FunctionNotFound, Invocation, reported

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class Functions:
    def __init__(self, client: LambdaClient, retry: Retrier) -> None:
        self.client = client
        self.retry = retry

    def invoke(self, name: str, event: Any) -> Invocation:
        started = time.perf_counter()
        try:
            answer = self.retry(
                self.client.invoke,
                FunctionName=name,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=json.dumps(event).encode(),
            )
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                raise FunctionNotFound(
                    f"function {name} is not deployed",
                    where=name,
                    hint="deploy the environment first (teal deploy), or check the name",
                ) from error
            raise
        elapsed_ms = (time.perf_counter() - started) * 1000
        payload = _decoded(answer["Payload"].read())
        logs = base64.b64decode(answer.get("LogResult", "")).decode("utf-8", "replace")
        request_id, duration_ms = reported(logs) or (_request_id(answer), elapsed_ms)
        failed = answer.get("FunctionError")
        return Invocation(
            function_name=name,
            request_id=request_id,
            result=None if failed else payload,
            error=function_error(payload, failed) if failed else None,
            duration_ms=duration_ms,
            logs=logs,
        )


def _decoded(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")


def function_error(payload: Any, kind: str) -> FunctionError:
    """Lambda's error payload: ``{"errorType", "errorMessage", "stackTrace"}``."""
    if isinstance(payload, dict):
        return FunctionError(
            str(payload.get("errorType") or kind), str(payload.get("errorMessage") or "")
        )
    return FunctionError(kind, str(payload))


def _request_id(answer: Any) -> str:
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(headers.get("x-amzn-requestid", ""))
