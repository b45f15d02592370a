"""Behind a transaction pooler prepared statements are off; the store must work all the same."""

from __future__ import annotations

import uuid

import pytest
from tests.fakes.store_factories import make_case, scripted_agent

from aifactory.domain.runs import NewRun
from aifactory.settings import load_settings
from aifactory.store import agents_repo, runs_repo
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


@pytest.mark.postgres
async def test_store_round_trips_with_prepared_statements_off(postgres_url: str) -> None:
    settings = load_settings(
        {"DATABASE_URL": postgres_url, "AIFACTORY_DB_PREPARED_STATEMENTS": "false"}
    )
    db = Database.from_settings(settings)
    agent_id = f"pooler-{uuid.uuid4().hex[:8]}"
    try:
        async with db.write() as session:
            await agents_repo.create_agent(session, scripted_agent(agent_id))
            run = await runs_repo.create_run_with_pending_results(
                session,
                NewRun(agent_id=agent_id, agent_version=1),
                [make_case(i) for i in range(3)],
            )
        # The same statements again: a cached statement name would clash behind a pooler.
        for _ in range(3):
            async with db.session() as session:
                assert (await runs_repo.get_run(session, run.id)).total == 3
                assert (await agents_repo.get_agent(session, agent_id)).version == 1
    finally:
        await db.dispose()
