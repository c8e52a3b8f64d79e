"""Ports for the tests' local clouds, gateways and moto servers.

A port from the kernel (bind to port 0) lies in Linux's ephemeral range
(32768-60999), where every outgoing connection also takes its source port: with
several test workers making requests, the port after a gateway's, which the
local cloud gives its first custom domain, is often taken a moment later by a
client socket. So the tests pick below that range, each pytest worker in a band
of its own, a port that is free with the few after it.
"""

from __future__ import annotations

import os
import random
import socket

FIRST, BAND = 20000, 3000  # workers gw0.. gw3 share 20000-31999, below 32768
SPAN = 4  # the port and the next ones (domains take gateway port + 1, + 2...)


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free port whose next few ports are free too, in this worker's band."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = FIRST + (int(worker) % 4 if worker.isdigit() else 0) * BAND
    while True:
        port = random.randrange(start, start + BAND - SPAN)
        if all(_bindable(port + offset) for offset in range(SPAN)):
            return port
