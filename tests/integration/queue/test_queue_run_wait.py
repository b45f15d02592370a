"""Waiting for a run on the in-process queue: woken when the worker ends it, not on a timer.

Every wait here re-reads the run only after an hour without news, so a wait that returns was
woken by the queue, and its reads are counted: one before the news, one after.
"""

from __future__ import annotations

import asyncio

from tests.integration.queue.conftest import StartQueue
from tests.integration.queue.queue_support import add_agent, add_run

from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.runs import Run, RunStatus
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.queue.inprocess import InProcessQueue
from aifactory.service.runs import RunService
from aifactory.settings import Settings
from aifactory.store import agents_repo
from aifactory.store.database import Database

HOUR = 3600.0


class CountingRuns(RunService):
    """The run service on ``queue``, counting its reads of runs (each sets :attr:`read`)."""

    def __init__(
        self, database: Database, parts: RunnerFactory, queue: InProcessQueue, settings: Settings
    ) -> None:
        policy = AddressPolicy(settings.allowed_hosts())
        super().__init__(database, parts, queue, policy, env=EnvPolicy.from_settings(settings))
        self.reads = 0
        self.read = asyncio.Event()

    async def get(self, run_id: str) -> Run:
        run = await super().get(run_id)
        self.reads += 1
        self.read.set()
        return run


async def first_read_then(runs: CountingRuns, run_id: str) -> asyncio.Future[Run]:
    """Start waiting for the run; return once the wait has read it still going."""
    waiting = asyncio.ensure_future(runs.wait(run_id, first_s=HOUR, max_s=HOUR))
    await runs.read.wait()
    assert not waiting.done()
    return waiting


async def test_the_wait_ends_when_the_worker_completes_the_run(
    database: Database, start_queue: StartQueue, parts: RunnerFactory, settings: Settings
) -> None:
    queue = await start_queue()
    runs = CountingRuns(database, parts, queue, settings)
    await add_agent(database, "bot", config={"default": "ok"})
    run = await add_run(database, "bot", 20)
    waiting = await first_read_then(runs, run.id)

    await queue.enqueue(run.id, run.total)

    done = await asyncio.wait_for(waiting, 60)
    assert (done.status, done.completed) == (RunStatus.COMPLETED, 20)
    assert done.summary is not None
    assert runs.reads == 2


async def test_the_wait_ends_when_the_run_is_cancelled(
    database: Database, start_queue: StartQueue, parts: RunnerFactory, settings: Settings
) -> None:
    queue = await start_queue()
    runs = CountingRuns(database, parts, queue, settings)
    # An hour of latency: only the cancel ends these calls.
    await add_agent(database, "slow", config={"default": "ok", "latency_ms": 3_600_000})
    run = await add_run(database, "slow", 10)
    await queue.enqueue(run.id, run.total)
    waiting = await first_read_then(runs, run.id)

    await runs.cancel(run.id)

    done = await asyncio.wait_for(waiting, 60)
    assert done.status == RunStatus.CANCELLED
    # The cancel read the run once more itself; the wait read it once after the news.
    assert runs.reads == 3


async def test_the_wait_ends_when_the_worker_fails_the_run(
    database: Database, start_queue: StartQueue, parts: RunnerFactory, settings: Settings
) -> None:
    queue = await start_queue()
    runs = CountingRuns(database, parts, queue, settings)
    await add_agent(database, "gone", config={"default": "ok"})
    run = await add_run(database, "gone", 5)
    async with database.write() as session:
        await agents_repo.delete_agent(session, "gone")
    waiting = await first_read_then(runs, run.id)

    await queue.enqueue(run.id, run.total)

    done = await asyncio.wait_for(waiting, 60)
    assert done.status == RunStatus.FAILED
    assert "deleted" in (done.error or "")
    assert runs.reads == 2
