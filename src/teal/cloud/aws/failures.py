"""AWS's refusals as teal errors, so the CLI reports them (exit 1) instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from teal.cloud.aws.retry import error_code, error_message
from teal.runtime.errors import OperationError

_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Turn a boto3 error raised inside the block into an :class:`OperationError`."""
    try:
        yield
    except ClientError as error:
        raise _from_client_error(error, where) from error
    except BotoCoreError as error:
        raise OperationError(
            f"the call to AWS failed: {error}",
            where=where,
            hint="check the network and AWS_ENDPOINT_URL, then run the command again",
        ) from error


def _from_client_error(error: ClientError, where: str) -> OperationError:
    code, message = error_code(error), error_message(error)
    what = f"AWS refused {error.operation_name}: {code}: {message}"
    if code in _DENIED:
        return OperationError(
            what,
            where=where,
            hint=f"grant these credentials the permission for {error.operation_name}",
        )
    if code in _EXPIRED:
        return OperationError(what, where=where, hint="log in to AWS again, then run it again")
    return OperationError(what, where=where)
