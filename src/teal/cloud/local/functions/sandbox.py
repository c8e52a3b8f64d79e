"""What a Lambda execution environment gives a handler, as the local workers set it up.

- **Variables**: those Lambda sets (``AWS_REGION``, ``AWS_LAMBDA_FUNCTION_*``,
  ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_INITIALIZATION_TYPE``, the log group and
  stream...), then the function's own. ``_X_AMZN_TRACE_ID`` changes with each
  request (the worker sets it, see :func:`lambda_trace_id`).
- **Region**: ``AWS_REGION`` is the one the function would run in on AWS: the
  environment's ``[aws] region`` (its ``[env.<name>.aws]`` table first), as the
  deploy that wrote the function recorded it (``FunctionSpec.host``: the code
  package carries no teal.toml); without one, the region of the user's AWS
  configuration, as a deploy would use; without that either, the local cloud's
  own.
- **Identity**: ``context.invoked_function_arn`` is the ARN the invocation
  named (an alias's: ``...:function:NAME:live``), ``context.function_version``
  the version that runs (``$LATEST`` or its number); the ARNs are in that
  region and in the local cloud's one account (:data:`LOCAL_ACCOUNT_ID`, the
  ``accountId`` of every ARN and event the local cloud makes).
- **Credentials**: as ``sam local`` does, the user's own, resolved here by
  botocore's chain (variables, shared files, SSO...) for the ``[aws] profile``,
  recorded the same way, so a handler's boto3 clients reach real AWS services
  when the user has credentials. Lambda always sets the three variables: with
  no credentials to pass they hold :data:`NO_CREDENTIALS` (AWS refuses a call
  signed with it). Instance metadata is not asked: that would be a network
  call on every machine that is not an EC2 instance.
- **Runtime API**: ``AWS_LAMBDA_RUNTIME_API`` is Lambda's (``127.0.0.1:9001``);
  locally nothing answers there (the worker is the runtime).
- **Code**: read-only, as Lambda's ``/var/task`` (file modes; see
  :func:`make_read_only`). A handler's write there fails with
  ``PermissionError`` (EACCES) where Lambda's fails with ``OSError`` EROFS.
- **/tmp**: a private, writable folder per worker, removed with it; ``TMPDIR``
  names it, so ``tempfile`` uses it. A handler that opens ``/tmp/...``
  literally writes the machine's own ``/tmp``.
- **Memory**: the function's ``MemorySize`` bounds the worker's resident memory,
  as Lambda bounds the execution environment's; see :data:`OUT_OF_MEMORY`.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teal.cloud.local.model import LOCAL_ACCOUNT_ID, LOCAL_REGION, FunctionSpec
from teal.cloud.local.paths import LocalPaths

OUT_OF_MEMORY = "Runtime.OutOfMemory"
# The lines Lambda writes to the function's log when it ends an environment that
# went over its memory (the runtime is killed, so the function writes nothing more).
OUT_OF_MEMORY_LOG = "RequestId: {request_id} Error: Runtime exited with error: signal: killed\n"
OUT_OF_MEMORY_LOG += OUT_OF_MEMORY
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")
# What the credential variables hold when the user has no credentials: set, as on Lambda,
# and plainly not a key (docs/local-cloud.md says so).
NO_CREDENTIALS = "teal-local-no-credentials"
# Lambda's runtime API address, as every execution environment has it.
RUNTIME_API = "127.0.0.1:9001"
_CREDENTIAL_VARIABLES = {
    "access_key": "AWS_ACCESS_KEY_ID",
    "secret_key": "AWS_SECRET_ACCESS_KEY",
    "token": "AWS_SESSION_TOKEN",
}


def memory_limit_bytes(spec: FunctionSpec) -> int:
    """The resident memory a worker of this function may hold (Lambda's MB are MiB)."""
    return spec.memory_mb * 1024 * 1024


# ---------------------------------------------------------------- code and /tmp


def make_read_only(folder: Path) -> None:
    """Take the write permission from every file and folder under ``folder``, itself too.

    As the user who owns them a handler may still ``chmod`` them back; plain writes
    fail. (A worker run as root also drops the capability that overrides file modes,
    see ``worker_main``.)
    """
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o222)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    folder.chmod(0o555)


def private_tmp(paths: LocalPaths) -> Path:
    """A new folder for one worker's ``/tmp``, under ``$TEAL_HOME/tmp``."""
    parent = paths.home / "tmp"
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="worker-", dir=parent))


def remove_tmp(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- region and credentials


class UserCredentials:
    """The user's AWS credentials per profile, from botocore's chain, looked up once
    and refreshed as botocore refreshes them (SSO, assumed roles)."""

    def __init__(self) -> None:
        self._found: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def variables(self, profile: str | None) -> dict[str, str]:
        """``AWS_ACCESS_KEY_ID`` and friends; empty when the chain finds nothing."""
        credentials = self._credentials(profile)
        if credentials is None:
            return {}
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception:  # an expired SSO session, say: the handler runs without
            return {}
        values = {name: getattr(frozen, attr) for attr, name in _CREDENTIAL_VARIABLES.items()}
        return {name: value for name, value in values.items() if value}

    def region(self, profile: str | None) -> str | None:
        """The region the user's AWS configuration names for the profile, if any."""
        try:
            region = _botocore_session(profile).get_config_variable("region")
        except Exception:  # an unknown profile: no region from it
            return None
        return region if isinstance(region, str) and region else None

    def _credentials(self, profile: str | None) -> Any:
        with self._lock:
            if profile not in self._found:
                self._found[profile] = _lookup(profile)
            return self._found[profile]


def configured_region(profile: str | None) -> str | None:
    """The region the user's AWS configuration names for ``profile``, if any."""
    return UserCredentials().region(profile)


def _botocore_session(profile: str | None) -> Any:
    import botocore.session

    return botocore.session.Session(profile=profile)


def _lookup(profile: str | None) -> Any:
    try:
        session = _botocore_session(profile)
        resolver = session.get_component("credential_provider")
        resolver.remove("iam-role")  # instance metadata: a network call off EC2
        return session.get_credentials()
    except Exception:  # an unknown profile, a broken config file: no credentials
        return None


@dataclass(frozen=True)
class AwsIdentity:
    """Where a worker's AWS SDK points, and with which credentials."""

    region: str
    credentials: Mapping[str, str] = field(default_factory=dict)


def aws_identity(spec: FunctionSpec, credentials: UserCredentials) -> AwsIdentity:
    """Region and credentials for a worker of ``spec`` (may read files: call off the loop)."""
    host = spec.host
    region = host.aws_region or credentials.region(host.aws_profile) or LOCAL_REGION
    return AwsIdentity(region, credentials.variables(host.aws_profile))


# ---------------------------------------------------------------- variables


def lambda_variables(
    spec: FunctionSpec,
    code_dir: Path,
    *,
    tmp: Path | None,
    log_group: str,
    log_stream: str,
    identity: AwsIdentity,
) -> dict[str, str]:
    """The variables a Lambda execution environment sees, then the function's own."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(
        identity.credentials or dict.fromkeys(_CREDENTIAL_VARIABLES.values(), NO_CREDENTIALS)
    )
    env.update(
        {
            "AWS_REGION": identity.region,
            "AWS_DEFAULT_REGION": identity.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
            # what context.invoked_function_arn says: the alias's ARN for an alias's
            # invocation, the version that runs in AWS_LAMBDA_FUNCTION_VERSION
            "TEAL_LOCAL_FUNCTION_ARN": spec.invoked_arn or function_arn(spec.name, identity.region),
        }
    )
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    env.update(spec.variables)
    return env


def function_arn(name: str, region: str) -> str:
    """A function's ARN as its handler's context shows it: the region it runs in, and the
    local cloud's account."""
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}"


def lambda_trace_id(trace_header: str | None) -> str:
    """``_X_AMZN_TRACE_ID`` for one invocation: the request's trace root, a parent
    segment of Lambda's own and the sampling decision (none locally). A root no
    trace header could carry (a direct invoke's event may hold anything, a NUL
    included) gets a new one: on Lambda the variable is always set, and valid."""
    root = next(
        (part for part in (trace_header or "").split(";") if part.startswith("Root=")), None
    )
    if root is None or not (root.isascii() and root.isprintable()):
        root = f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x}"
    return f"{root};Parent={random.getrandbits(64):016x};Sampled=0"
