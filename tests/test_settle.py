"""Interrupted history entries settled by what happened after them, on the local cloud's
store (the e2e crash tests settle them against a live domain's mapping)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e import free_port
from teal.cloud.base import Action, EntryState, HistoryEntry, rollback_target
from teal.cloud.local.cloud import LocalCloud
from teal.cloud.local.paths import LocalPaths
from teal.ops.settle import settle_interrupted
from teal.project.config import DomainSpec

DOMAIN = DomainSpec("blog.example.com")
START = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    monkeypatch.setenv("TEAL_LOCAL_PORT", str(free_port()))
    local = LocalCloud(LocalPaths(tmp_path / "home"))
    yield local
    local.close()


def move(
    minute: int, action: Action, from_: str | None, to: str, state: EntryState = "done"
) -> HistoryEntry:
    return HistoryEntry(
        time=START + timedelta(minutes=minute),
        user="ana",
        action=action,
        environment=to,
        from_=from_,
        to=to,
        details={"domain": DOMAIN.name},
        state=state,
    )


def test_a_later_move_tells_whether_an_interrupted_one_took_effect(cloud: LocalCloud) -> None:
    took = move(1, "switch", "blog-dev", "blog-dev-2", "interrupted")
    did_not = move(2, "rollback", "blog-dev-2", "blog-dev", "interrupted")
    for entry in (took, did_not, move(3, "switch", "blog-dev-2", "blog-dev-3")):
        cloud.record_history("blog", entry)

    settle_interrupted(cloud, "blog", DOMAIN)

    first, second, _ = cloud.read_history("blog")
    assert (first.state, second.state) == ("done", "failed")
    assert first.details["settled"] == (
        "blog.example.com served blog-dev-2 when the next rollback began: it took effect"
    )
    assert second.details["interrupted"] is True


def test_a_move_neither_before_nor_after_stays_interrupted_and_blocks_rollback(
    cloud: LocalCloud,
) -> None:
    unknown = move(1, "switch", "blog-dev", "blog-dev-2", "interrupted")
    cloud.record_history("blog", unknown)
    cloud.record_history("blog", move(2, "switch", "blog-dev-3", "blog-dev-4", "failed"))
    cloud.record_history("blog", move(3, "switch", "blog-dev-3", "blog-dev-2", "started"))

    assert settle_interrupted(cloud, "blog", DOMAIN) != []
    [entry, *_] = cloud.read_history("blog")
    assert entry.state == "interrupted"
    assert entry.details["settled"].endswith("neither before nor after it")
    assert settle_interrupted(cloud, "blog", DOMAIN) == []  # read once, not again
    assert rollback_target(entry) is None


def test_other_domains_moves_are_left_for_their_own_commands(cloud: LocalCloud) -> None:
    cloud.record_history("blog", move(1, "switch", "blog-dev", "blog-dev-2", "interrupted"))
    assert settle_interrupted(cloud, "blog", DomainSpec("other.example.com")) == []
    assert settle_interrupted(cloud, "blog", None) == []


def test_only_a_completed_switch_has_a_way_back() -> None:
    assert rollback_target(move(1, "switch", "blog-dev", "blog-dev-2")) == "blog-dev"
    assert rollback_target(move(1, "switch", None, "blog-dev-2")) is None
    assert rollback_target(move(1, "rollback", "blog-dev-2", "blog-dev")) is None
    assert rollback_target(move(1, "switched-back", "blog-dev-2", "blog-dev")) is None
    assert rollback_target(move(1, "switch", "blog-dev", "blog-dev-2", "started")) is None
