"""Agents' result counts: spread over rows, summed exactly, and never for a deleted agent."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from tests.fakes.store_factories import scripted_agent
from tests.integration.queue.queue_support import results_count

from aifactory.store import agents_repo, counts_repo, runs_repo
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


async def test_concurrent_writers_add_up_exactly(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("a"))
        await agents_repo.create_agent(session, scripted_agent("b"))

    async def add(n: int) -> None:
        async with database.write() as session:
            assert await counts_repo.add(session, {"b": n, "a": 1}) == {"a", "b"}

    await asyncio.gather(*(add(n) for n in range(1, 41)))

    assert await results_count(database, "a") == 40
    assert await results_count(database, "b") == sum(range(1, 41))
    async with database.session() as session:
        assert await runs_repo.cases_executed_total(session) == 40 + sum(range(1, 41))
        shards = await session.execute(
            text("SELECT COUNT(*) FROM agent_result_counts WHERE agent_id = 'a'")
        )
        # 40 transactions over 16 shards: spread (all 40 on one shard: 16^-39).
        assert 1 < shards.scalar_one() <= counts_repo.SHARDS


async def test_one_shard_per_transaction(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("a"))
    async with database.write() as session:
        for _ in range(5):
            await counts_repo.add(session, {"a": 2})
    async with database.session() as session:
        rows = (await session.execute(text("SELECT n FROM agent_result_counts"))).all()
    assert [tuple(row) for row in rows] == [(10,)]


async def test_deleted_and_unknown_agents_are_not_counted(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("gone"))
        await agents_repo.create_agent(session, scripted_agent("here"))
    async with database.write() as session:
        await agents_repo.delete_agent(session, "gone")
    async with database.write() as session:
        counted = await counts_repo.add(session, {"gone": 3, "here": 2, "never": 1})
    assert counted == {"here"}
    assert await results_count(database, "gone") == 0
    assert await results_count(database, "never") == 0
    assert await results_count(database, "here") == 2
