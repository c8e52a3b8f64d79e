"""Warming a Lambda function before traffic moves to it: N execution environments at once.

Lambda gives an invocation to an idle execution environment of the function
when it has one, and makes a new environment only when every one is busy. So
N warm-up invocations make N environments only if they run at the same time:
each must still hold its environment when the last one arrives. teal sends
the N at once, from N threads over N connections (the Lambda client keeps 50,
:data:`teal.cloud.aws.session.CLIENT_CONFIG`), so they arrive within a
fraction of a second of each other, and each warm-up holds its environment
for :data:`HOLD_S` from its handler's start (:mod:`teal.runtime.warmup`); a
new environment is busy with its init before that, which only lengthens the
overlap.

The timing is not trusted: each warm-up answers its environment's log stream
(one per execution environment), and teal counts the distinct ones. When a
round reached fewer than N (Lambda placed them slower than the hold), the N
go again with twice the hold, up to :data:`ROUNDS` rounds; the environments
of the round before are idle by then and take part of the next, so a round
counts what it reached by itself.

The one call is :func:`invoke_warm_up`, with the function's name or ARN and an
optional qualifier (a version or an alias), so that warming reaches whatever
the traffic will reach.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from teal.cloud.aws.functions import function_error
from teal.cloud.aws.retry import error_code
from teal.cloud.base import FunctionError, FunctionNotFound, Warmed
from teal.runtime.warmup import MAX_HOLD_S, warm_up_event

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

HOLD_S = 2.0  # how long each warm-up of the first round holds its environment
ROUNDS = 3  # 2 s, 4 s, 8 s: past that, Lambda is not placing them at once (throttled?)


@dataclass(frozen=True)
class WarmUp:
    """One warm-up's answer: the execution environment it ran in, or its error."""

    environment: str | None
    error: FunctionError | None = None


def invoke_warm_up(
    client: LambdaClient, name: str, hold_s: float, qualifier: str | None = None
) -> WarmUp:
    """One synchronous warm-up invocation of the function (of its version or alias, with
    ``qualifier``), holding its execution environment ``hold_s`` seconds."""
    payload = json.dumps(warm_up_event(hold_s)).encode()
    try:
        if qualifier is None:
            answer = client.invoke(FunctionName=name, Payload=payload)
        else:
            answer = client.invoke(FunctionName=name, Payload=payload, Qualifier=qualifier)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise FunctionNotFound(
                f"function {name} is not deployed",
                where=name,
                hint="deploy the environment again (teal deploy), then switch",
            ) from error
        raise
    data = answer["Payload"].read()
    try:
        result: Any = json.loads(data) if data else None
    except ValueError:  # not teal's runtime answering (an older package, another handler)
        return WarmUp(None, FunctionError("NotTealsRuntime", f"answered {data[:200]!r}"))
    failed = answer.get("FunctionError")
    if failed:
        return WarmUp(None, function_error(result, failed))
    stream = result.get("environment") if isinstance(result, dict) else None
    return WarmUp(str(stream) if stream else None)


Invoke = Callable[["LambdaClient", str, float, "str | None"], WarmUp]


class Warming:
    def __init__(
        self,
        client: LambdaClient,
        *,
        hold_s: float = HOLD_S,
        rounds: int = ROUNDS,
        invoke: Invoke = invoke_warm_up,
    ) -> None:
        self.client = client
        self.hold_s = hold_s
        self.rounds = rounds
        self.invoke = invoke

    def warm(self, name: str, concurrency: int, qualifier: str | None = None) -> Warmed:
        """``concurrency`` warm-ups at once, in rounds until as many environments ran one
        (see the module's docstring); the most one round reached."""
        hold_s, reached = self.hold_s, 0
        for _ in range(self.rounds):
            answers = self._round(name, concurrency, hold_s, qualifier)
            failed = next((a.error for a in answers if a.error is not None), None)
            if failed is not None:
                return Warmed(name, concurrency, 0, failed)
            distinct = {a.environment for a in answers if a.environment}
            reached = max(reached, len(distinct))
            if reached >= concurrency:
                break
            hold_s = min(hold_s * 2, MAX_HOLD_S)
        return Warmed(name, concurrency, min(reached, concurrency))

    def _round(
        self, name: str, concurrency: int, hold_s: float, qualifier: str | None
    ) -> list[WarmUp]:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="warm") as pool:
            calls = [
                pool.submit(self.invoke, self.client, name, hold_s, qualifier)
                for _ in range(concurrency)
            ]
            return [call.result() for call in calls]
