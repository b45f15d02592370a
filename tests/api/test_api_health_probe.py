"""The database check behind /health: shared by concurrent callers, reused briefly, then renewed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from aifactory.service import probe as probe_module
from aifactory.service.probe import DatabaseProbe


class CountingDatabase:
    """Stands in for :class:`Database`: counts pings and answers what it is told."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.pings = 0

    async def ping(self) -> bool:
        self.pings += 1
        await asyncio.sleep(0.01)
        return self.answer


def probe_for(db: CountingDatabase, ttl_s: float) -> DatabaseProbe:
    fake: Any = db
    return DatabaseProbe(fake, ttl_s=ttl_s)


async def test_concurrent_health_checks_share_one_database_round_trip() -> None:
    db = CountingDatabase()
    probe = probe_for(db, ttl_s=60)
    answers = await asyncio.gather(*(probe.ok() for _ in range(50)))
    assert answers == [True] * 50
    assert db.pings == 1
    assert await probe.ok() is True
    assert db.pings == 1


async def test_an_outage_shows_once_the_reuse_window_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]  # the probe's clock, moved by hand
    monkeypatch.setattr(probe_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    db = CountingDatabase()
    probe = probe_for(db, ttl_s=1.0)
    assert await probe.ok() is True
    db.answer = False
    now[0] += 0.99
    assert await probe.ok() is True  # still within the reuse window
    now[0] += 0.02
    assert await probe.ok() is False
    assert db.pings == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others_check() -> None:
    db = CountingDatabase()
    probe = probe_for(db, ttl_s=60)
    first = asyncio.create_task(probe.ok())
    second = asyncio.create_task(probe.ok())
    await asyncio.sleep(0)
    first.cancel()
    assert await second is True
    assert db.pings == 1
