"""Batched completion: each claimed case recorded at most once, counters in the same transaction."""

from __future__ import annotations

import asyncio

from sqlalchemy import event
from tests.fakes.store_factories import make_result
from tests.integration.queue.queue_support import (
    add_agent,
    add_run,
    get_run,
    make_cases,
    results_count,
    row_counts,
)

from aifactory.queue.completions import CompletionWriter, complete_many
from aifactory.store import results_repo, runs_repo
from aifactory.store.database import Database


async def test_complete_many_records_owned_cases_once_and_counts_them(database: Database) -> None:
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 6)
    async with database.write() as session:
        mine = await results_repo.claim_cases(session, run.id, "me", lease_s=60, limit=4)
        theirs = await results_repo.claim_cases(session, run.id, "other", lease_s=60, limit=1)
    case = make_cases(1)[0]
    items = [
        (mine[0].result_id, make_result(case, "passed")),
        (mine[1].result_id, make_result(case, "failed")),
        (mine[2].result_id, make_result(case, "error")),
        (mine[2].result_id, make_result(case, "passed")),  # named twice: recorded once
        (theirs[0].result_id, make_result(case, "passed")),  # another worker's claim
    ]
    async with database.write() as session:
        recorded = await complete_many(session, "me", items)
    assert recorded == [True, True, True, False, False]

    async with database.write() as session:  # a redelivery of the same results
        again = await complete_many(session, "me", items[:3])
    assert again == [False, False, False]

    done = await get_run(database, run.id)
    assert (done.completed, done.passed, done.failed, done.errored) == (3, 1, 1, 1)
    assert await row_counts(database, run.id) == {
        "passed": 1,
        "failed": 1,
        "error": 1,
        "running": 2,
        "pending": 1,
    }
    assert await results_count(database, "bot") == 3


async def test_complete_many_writes_nothing_for_a_cancelled_run(database: Database) -> None:
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 3)
    async with database.write() as session:
        claimed = await results_repo.claim_cases(session, run.id, "me", lease_s=60, limit=3)
    async with database.write() as session:
        await runs_repo.request_cancel(session, run.id)
    case = make_cases(1)[0]
    async with database.write() as session:
        recorded = await complete_many(
            session, "me", [(c.result_id, make_result(case)) for c in claimed]
        )
    assert recorded == [False, False, False]
    assert (await get_run(database, run.id)).completed == 0
    assert await row_counts(database, run.id) == {"cancelled": 3}


async def test_writer_batches_results_of_concurrent_cases(database: Database) -> None:
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 120)
    async with database.write() as session:
        claimed = await results_repo.claim_cases(session, run.id, "me", lease_s=60, limit=120)
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
