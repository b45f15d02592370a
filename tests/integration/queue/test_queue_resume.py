"""Nothing is lost when the process dies: a killed server's batch is resumed and finished once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.queue.queue_support import (
    add_agent,
    add_run,
    assert_counters_match_rows,
    duplicated_cases,
    get_run,
    queue_settings,
    results_count,
    row_counts,
    wait_until,
)

from aifactory.engine.runner_factory import RunnerFactory
from aifactory.errors import ConfigError
from aifactory.queue.base import make_queue
from aifactory.queue.distributed import DistributedQueue
from aifactory.queue.inprocess import InProcessQueue
from aifactory.settings import Settings
from aifactory.store import leases_repo, migrate
from aifactory.store.database import Database

CHILD = Path(__file__).with_name("queue_child.py")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> AsyncIterator[tuple[str, Database]]:
    """A migrated SQLite file, its URL and a Database on it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'resume.db'}"
    await migrate.upgrade(url)
    db = Database.from_url(url)
    try:
        yield url, db
    finally:
        await db.dispose()


async def test_a_batch_killed_mid_way_is_resumed_and_finished_once(
    sqlite_file: tuple[str, Database], parts: RunnerFactory, settings: Settings
) -> None:
    url, db = sqlite_file
    await add_agent(db, "slow", config={"default": "ok", "latency_ms": 40})
    run = await add_run(db, "slow", 300)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        url,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 20)).strip() == b"started"

        async def some_done() -> bool:
            return (await get_run(db, run.id)).completed >= 30

        await wait_until(some_done, timeout_s=20, what="the child to finish some cases")
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    killed = await get_run(db, run.id)
    left = await row_counts(db, run.id)
    print(f"\nkilled with {killed.completed} done, rows {left}")
    assert killed.status == "running"
    assert killed.completed < killed.total
    assert left.get("running", 0) > 0  # the dead process's claims, with 30 s left on the lease

    queue = InProcessQueue(db, parts, settings, concurrency=32, reconcile_s=60)
    await queue.start()
    try:
        await queue.run_until_idle(timeout_s=30)
    finally:
        await queue.stop(grace_s=0)

    done = await get_run(db, run.id)
    counts = await row_counts(db, run.id)
    assert done.status == "completed"
    assert counts == {"passed": 300}
    assert_counters_match_rows(done, counts)
    assert done.completed == done.total == 300
    assert await duplicated_cases(db, run.id) == 0
    assert await results_count(db, "slow") == 300  # no case was recorded twice
    assert done.summary is not None and done.summary["completed"] == 300


async def test_stop_releases_unfinished_cases_for_the_next_start(
    sqlite_file: tuple[str, Database], parts: RunnerFactory, settings: Settings
) -> None:
    _, db = sqlite_file
    await add_agent(db, "slow", config={"default": "ok", "latency_ms": 1000})
    queue = InProcessQueue(db, parts, settings, concurrency=4, reconcile_s=60)
    await queue.start()
    run = await add_run(db, "slow", 20)
    await queue.enqueue(run.id, run.total)

    async def in_flight() -> bool:
        return queue.worker.in_flight == 4

    await wait_until(in_flight, what="four cases in flight")
    await queue.stop(grace_s=0)

    stopped = await get_run(db, run.id)
    assert await row_counts(db, run.id) == {"pending": 20}
    assert stopped.completed == 0

    again = InProcessQueue(db, parts, settings, concurrency=20, reconcile_s=60)
    await again.start()
    try:
        await again.run_until_idle(timeout_s=10)
    finally:
        await again.stop(grace_s=0)
    assert await row_counts(db, run.id) == {"passed": 20}


async def test_the_queue_url_chooses_the_queue_and_an_unknown_scheme_is_refused(
    sqlite_file: tuple[str, Database], parts: RunnerFactory
) -> None:
    _, db = sqlite_file
    settings = queue_settings(AIFACTORY_QUEUE_URL="kafka://:secret@127.0.0.1:9092/0")
    with pytest.raises(ConfigError, match="redis://") as caught:
        make_queue(settings, db, parts)
    assert "secret" not in str(caught.value)
    redis = make_queue(queue_settings(AIFACTORY_QUEUE_URL="redis://127.0.0.1:6379/0"), db, parts)
    assert isinstance(redis, DistributedQueue) and redis.info["backend"] == "redis"
    assert isinstance(make_queue(queue_settings(), db, parts), InProcessQueue)


async def test_a_process_among_several_leaves_a_siblings_claims_alone(
    sqlite_file: tuple[str, Database], parts: RunnerFactory
) -> None:
    _, db = sqlite_file
    await add_agent(db, "busy", config={"default": "ok"})
    run = await add_run(db, "busy", 3)
    async with db.write() as session:
        held = await leases_repo.claim_cases(session, run.id, "sibling", lease_s=600, limit=3)
    assert len(held) == 3

    several = queue_settings(AIFACTORY_SINGLE_PROCESS="false")
    queue = InProcessQueue(db, parts, several, concurrency=4, reconcile_s=60)
    await queue.start()
    try:
        assert await row_counts(db, run.id) == {"running": 3}  # the sibling's claims stand
    finally:
        await queue.stop(grace_s=0)

    alone = InProcessQueue(db, parts, queue_settings(), concurrency=4, reconcile_s=60)
    await alone.start()
    try:
        await alone.run_until_idle(timeout_s=10)
    finally:
        await alone.stop(grace_s=0)
    assert await row_counts(db, run.id) == {"passed": 3}  # the only process takes them over
