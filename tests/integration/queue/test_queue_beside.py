"""Batches stored by the server and run by the batch runner beside it (``AIFACTORY_BATCH_RUNNER``).

The server's queue runs nothing: a stored run stays queued until a batch runner, here started in
the test's own loop exactly as ``aifactory batch-runner`` starts it, finds it in the database.
"""

from __future__ import annotations

import pytest
from tests.integration.queue.queue_support import (
    add_agent,
    add_run,
    assert_counters_match_rows,
    get_run,
    queue_settings,
    row_counts,
    wait_until,
)

from aifactory import bootstrap
from aifactory.domain.runs import RunStatus
from aifactory.queue.base import make_queue
from aifactory.queue.beside import BesideQueue
from aifactory.queue.inprocess import InProcessQueue
from aifactory.queue.runner_process import PICKUP_S
from aifactory.store.database import Database


async def test_the_server_only_stores_batches_and_the_runner_picks_them_up(
    database: Database, database_url: str
) -> None:
    settings = queue_settings(DATABASE_URL=database_url, AIFACTORY_BATCH_RUNNER="process")
    await add_agent(database, "bot")
    async with bootstrap.runner_factory(settings) as parts:
        server_queue = make_queue(settings, database, parts)
        assert isinstance(server_queue, BesideQueue)
        assert server_queue.info == {"backend": "process"}
        await server_queue.start()
        await server_queue.admit()
        run = await add_run(database, "bot", 120, fail_every=10)
        await server_queue.enqueue(run.id, run.total)
        # Nothing in the server runs it.
        with pytest.raises(TimeoutError):
            await server_queue.run_until_idle(timeout_s=3 * PICKUP_S)
        assert (await get_run(database, run.id)).status == RunStatus.QUEUED
        assert server_queue.depth() is None

        async with bootstrap.batch_runner(settings, concurrency=16) as runner:

            async def ended() -> bool:
                return (await get_run(database, run.id)).status == RunStatus.COMPLETED

            await wait_until(ended, timeout_s=30, what="the runner to complete the run")
            await server_queue.run_until_idle(timeout_s=5)
            assert runner.depth() == 0
        await server_queue.stop()
    done = await get_run(database, run.id)
    assert (done.passed, done.failed, done.completed) == (108, 12, 120)
    assert_counters_match_rows(done, await row_counts(database, run.id))


async def test_a_runner_takes_back_the_claims_a_dead_runner_left(
    database: Database, database_url: str
) -> None:
    settings = queue_settings(DATABASE_URL=database_url, AIFACTORY_BATCH_RUNNER="process")
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 30)
    # A runner that died holding claims: its rows are running under an owner nobody serves.
    async with bootstrap.runner_factory(settings) as parts:
        dead = InProcessQueue(database, parts, settings, owner="runner:dead")
        claimed = await dead.worker._claim(run.id, 20)
    assert len(claimed) == 20
    assert (await row_counts(database, run.id))["running"] == 20

    async with bootstrap.batch_runner(settings, concurrency=16):

        async def ended() -> bool:
            return (await get_run(database, run.id)).status == RunStatus.COMPLETED

        # At once, not after the 5 s lease: the runner is the only one, so it released them.
        await wait_until(ended, timeout_s=4, what="the runner to complete the run")
    done = await get_run(database, run.id)
    assert (done.passed, done.completed) == (30, 30)
    assert_counters_match_rows(done, await row_counts(database, run.id))
