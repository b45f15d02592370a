"""The lock that SQLite writers of several processes take in turn (store/file_lock.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aifactory.store.database import Database
from aifactory.store.file_lock import InterProcessLock

HANG_GUARD_S = 60  # only guards against a hang


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set when a holder found the lock taken and began to wait for it."""
    event = asyncio.Event()
    wait = InterProcessLock._wait

    async def spy(self: InterProcessLock, fd: int) -> None:
        event.set()
        await wait(self, fd)

    monkeypatch.setattr(InterProcessLock, "_wait", spy)
    return event


async def test_a_second_holder_waits_until_the_first_lets_go(
    tmp_path: Path, waiting: asyncio.Event
) -> None:
    # Two open files of one path conflict like two processes would.
    first, second = InterProcessLock(tmp_path / "db.lock"), InterProcessLock(tmp_path / "db.lock")
    order: list[str] = []

    async def hold_second() -> None:
        async with second.hold():
            order.append("second in")

    async with first.hold():
        waiter = asyncio.create_task(hold_second())
        await asyncio.wait_for(waiting.wait(), HANG_GUARD_S)
        assert order == []  # found the lock taken: still waiting
        order.append("first out")
    await asyncio.wait_for(waiter, HANG_GUARD_S)
    assert order == ["first out", "second in"]
    first.close()
    second.close()


async def test_a_cancelled_waiter_leaves_the_lock_free(
    tmp_path: Path, waiting: asyncio.Event
) -> None:
    first, second = InterProcessLock(tmp_path / "db.lock"), InterProcessLock(tmp_path / "db.lock")
    async with first.hold():
        waiter = asyncio.create_task(second.hold().__aenter__())
        await asyncio.wait_for(waiting.wait(), HANG_GUARD_S)
        waiter.cancel()
        await asyncio.sleep(0)  # the cancel reaches the waiter while the lock is still held
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, HANG_GUARD_S)
    # Had the cancelled waiter kept the lock, this would never get it.
    third = InterProcessLock(tmp_path / "db.lock")
    async with asyncio.timeout(HANG_GUARD_S), third.hold():
        pass
    for lock in (first, second, third):
        lock.close()


async def test_writers_of_two_databases_on_one_file_take_turns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    one, two = Database.from_url(url), Database.from_url(url)
    inside = 0
    most = 0

    async def write(db: Database) -> None:
        nonlocal inside, most
        async with db.write():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(write(db) for _ in range(10) for db in (one, two)))
    assert most == 1
    assert (tmp_path / "shared.db.lock").exists()
    await one.dispose()
    await two.dispose()
