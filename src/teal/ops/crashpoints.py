"""Named points at which a test can make teal die as ``kill -9`` would.

With ``TEAL_CRASH_AT=<name>`` in its environment, a teal process kills itself
with SIGKILL when it reaches the point of that name. It lets the crash tests
stop deploys, switches and deletes at every step, deterministically, and
check that the next ordinary command recovers. Unset, a point costs one
environment lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_VARIABLE = "TEAL_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
