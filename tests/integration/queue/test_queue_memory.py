"""A big batch runs in bounded memory: cases are claimed chunk by chunk, never all at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.queue.queue_support import add_agent, get_run, row_counts

from aifactory.domain.models import CheckSpec, TestCase
from aifactory.domain.runs import NewRun
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.queue.inprocess import InProcessQueue
from aifactory.settings import Settings
from aifactory.store import migrate, runs_repo
from aifactory.store.database import Database

CASES = 20_000
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _cases() -> Iterator[TestCase]:
    check = [CheckSpec(type="contains", value="ok")]
    for i in range(CASES):
        yield TestCase(name=f"case {i}", input=f"question {i}", checks=check)


@pytest.mark.slow
async def test_a_20000_case_batch_runs_in_bounded_memory(
    tmp_path: Path, parts: RunnerFactory, settings: Settings
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    await migrate.upgrade(url)
    db = Database.from_url(url)
    try:
        await add_agent(db, "bot", max_concurrency=64)
        async with db.write() as session:
            run = await runs_repo.create_run_with_pending_results(
                session, NewRun(agent_id="bot", agent_version=1), _cases()
            )
        queue = InProcessQueue(db, parts, settings, concurrency=64, reconcile_s=60)
        await queue.start()
        baseline = _rss_bytes()
        peaks = {"rss": baseline, "held": 0}

        async def sample() -> None:
            while True:
                peaks["rss"] = max(peaks["rss"], _rss_bytes())
                peaks["held"] = max(peaks["held"], queue.worker.held)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        try:
            await queue.enqueue(run.id, run.total)
            await queue.run_until_idle(timeout_s=120)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await queue.stop(grace_s=0)
        elapsed = time.perf_counter() - started

        growth_mib = (peaks["rss"] - baseline) / 2**20
        print(
            f"\n{CASES} cases in {elapsed:.1f} s ({CASES / elapsed:,.0f}/s); "
            f"RSS growth {growth_mib:.1f} MiB; at most {peaks['held']} cases claimed at once"
        )
        done = await get_run(db, run.id)
        assert done.status == "completed"
        assert await row_counts(db, run.id) == {"passed": CASES}
        assert done.summary is not None and done.summary["completed"] == CASES
        # Never more than the chunks in flight, whatever the batch's size.
        assert 0 < peaks["held"] <= queue.max_chunks * queue.chunk_size
        assert growth_mib < 100
    finally:
        await db.dispose()
