"""A worker's check of its peak memory after each request: exact, and cheap when it can be."""

from __future__ import annotations

import pytest

from teal.cloud.local.functions import worker_main

MIB = 1024 * 1024


def test_below_the_cheap_bound_the_exact_peak_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def exact_peak() -> int:
        raise AssertionError("read /proc although ru_maxrss already answered")

    monkeypatch.setattr(worker_main, "peak_memory_bytes", exact_peak)
    bound = worker_main._peak_bound_bytes() + worker_main._BOUND_SLACK
    assert not worker_main.over_memory(bound + MIB)
    assert not worker_main.over_memory(0)  # no limit


def test_past_the_bound_the_exact_peak_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """ru_maxrss may be the forking process's larger peak: only the worker's own counts."""
    bound = worker_main._peak_bound_bytes()
    limit = bound // 2
    monkeypatch.setattr(worker_main, "peak_memory_bytes", lambda: limit - MIB)
    assert not worker_main.over_memory(limit)  # a large parent, a small worker
    monkeypatch.setattr(worker_main, "peak_memory_bytes", lambda: limit + MIB)
    assert worker_main.over_memory(limit)


def test_the_bound_with_its_slack_is_never_below_the_exact_peak() -> None:
    grown = bytearray(64 * MIB)  # fresh pages: the per-CPU counters lag the most
    grown[::4096] = b"x" * len(grown[::4096])
    exact = worker_main.peak_memory_bytes()
    if exact == 0:
        pytest.skip("no VmHWM on this system")
    assert worker_main._peak_bound_bytes() + worker_main._BOUND_SLACK >= exact
