"""Batched completion: results of concurrent cases share a few write transactions."""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from tests.fakes.store_factories import make_result
from tests.integration.queue.queue_support import add_agent, add_run, get_run, make_cases

from aifactory.queue.completions import CompletionWriter
from aifactory.store import leases_repo
from aifactory.store.database import Database


async def test_writer_batches_results_of_concurrent_cases(database: Database) -> None:
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 120)
    async with database.write() as session:
        claimed = await leases_repo.claim_cases(session, run.id, "me", lease_s=60, limit=120)
    writer = CompletionWriter(database, "me", max_batch=50, max_delay_s=0.05)
    commits = 0

    def count_commit(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(database.engine.sync_engine, "commit", count_commit)
    writer.start()
    case = make_cases(1)[0]
    try:
        recorded = await asyncio.gather(
            *(writer.submit(c.result_id, make_result(case)) for c in claimed)
        )
    finally:
        await writer.aclose()
    event.remove(database.engine.sync_engine, "commit", count_commit)
    assert all(recorded)
    assert 1 <= commits <= 3  # 120 results in a few transactions, not 120
    assert (await get_run(database, run.id)).passed == 120
