"""Reflections in the store: progress, cancel requests, final states, and dead loops failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from tests.fakes.store_factories import scripted_agent

from aifactory.errors import NotFound
from aifactory.store import agents_repo, reflections_repo
from aifactory.store.database import Database
from aifactory.store.tables import Reflection, utcnow

pytest_plugins = ["tests.fakes.databases"]

PARAMS = {"suite_id": "s", "max_iterations": 3}


async def new_reflection(db: Database) -> str:
    async with db.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        record = await reflections_repo.create_reflection(session, "bot", "s", PARAMS)
    return record.id


async def test_progress_is_kept_and_a_finished_reflection_never_changes(database: Database) -> None:
    reflection_id = await new_reflection(database)
    state = {"baseline": {"version": 1}, "iterations": [{"index": 1, "candidates": []}]}
    async with database.write() as session:
        assert await reflections_repo.save_progress(
            session, reflection_id, state=state, cost_usd=0.25, accepted_version=None
        )
        assert await reflections_repo.finish(
            session, reflection_id, status="completed", stop_reason="no_gain"
        )
        assert not await reflections_repo.finish(
            session, reflection_id, status="failed", stop_reason="error"
        )
        assert not await reflections_repo.save_progress(
            session, reflection_id, state={}, cost_usd=9.0, accepted_version=2
        )
    async with database.session() as session:
        record = await reflections_repo.get_reflection(session, reflection_id)
    assert (record.status, record.stop_reason, record.cost_usd) == ("completed", "no_gain", 0.25)
    assert record.state == state and record.params == PARAMS
    assert record.started_at is not None and record.finished_at is not None


async def test_a_cancel_request_reaches_the_loop_through_its_heartbeat(database: Database) -> None:
    reflection_id = await new_reflection(database)
    async with database.write() as session:
        assert not await reflections_repo.heartbeat(session, reflection_id)
        assert await reflections_repo.request_cancel(session, reflection_id)
        assert await reflections_repo.heartbeat(session, reflection_id)
        await reflections_repo.finish(
            session, reflection_id, status="cancelled", stop_reason="cancelled"
        )
        assert not await reflections_repo.request_cancel(session, reflection_id)
        with pytest.raises(NotFound):
            await reflections_repo.request_cancel(session, "missing")


async def test_only_loops_whose_heartbeat_stopped_are_failed(database: Database) -> None:
    dead = await new_reflection(database)
    async with database.write() as session:
        alive = (await reflections_repo.create_reflection(session, "bot", "s", PARAMS)).id
        await session.execute(
            update(Reflection)
            .where(Reflection.id == dead)
            .values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )
        assert await reflections_repo.fail_stale(session, older_than_s=60) == 1
    async with database.session() as session:
        failed = await reflections_repo.get_reflection(session, dead)
        running = await reflections_repo.get_reflection(session, alive)
        listed = await reflections_repo.list_reflections(session, agent_id="bot", limit=1)
    assert (failed.status, failed.stop_reason) == ("failed", "error")
    assert "stopped before it finished" in (failed.error or "")
    assert running.status == "queued"
    assert listed.total == 2 and len(listed.items) == 1


async def test_a_reflection_needs_a_live_agent(database: Database) -> None:
    async with database.write() as session:
        with pytest.raises(NotFound):
            await reflections_repo.create_reflection(session, "nobody", "s", PARAMS)
