"""Agents: ids, conflicts, versions made by config changes, states for the reflection loop."""

from __future__ import annotations

import pytest
from tests.fakes.store_factories import scripted_agent

from aifactory.domain.models import AgentSpec
from aifactory.errors import Conflict, NotFound
from aifactory.store import agents_repo
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


async def test_create_get_and_list(database: Database) -> None:
    async with database.write() as session:
        created = await agents_repo.create_agent(session, scripted_agent("b-bot"))
        generated = await agents_repo.create_agent(
            session, AgentSpec(kind="scripted", config={"default": "x"})
        )
        await agents_repo.create_agent(session, scripted_agent("a-bot"))
    assert created.version == 1
    assert created.spec.config == {"default": "ok"}
    assert generated.spec.id is not None and generated.spec.id.startswith("agent-")
    async with database.session() as session:
        got = await agents_repo.get_agent(session, "b-bot")
        page = await agents_repo.list_agents(session, limit=2, offset=0)
    assert got.spec == created.spec
    assert got.created_at.tzinfo is not None
    assert page.total == 3
    assert [a.spec.id for a in page.items] == ["a-bot", generated.spec.id]


async def test_taken_id_is_a_conflict(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("dup"))
    with pytest.raises(Conflict, match="already exists"):
        async with database.write() as session:
            await agents_repo.create_agent(session, scripted_agent("dup"))


async def test_config_change_makes_a_new_active_version_and_rename_does_not(
    database: Database,
) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
    async with database.write() as session:
        renamed = await agents_repo.update_agent(
            session, "bot", scripted_agent("bot").model_copy(update={"name": "Bot"})
        )
    assert (renamed.version, renamed.spec.name) == (1, "Bot")
    async with database.write() as session:
        changed = await agents_repo.update_agent(
            session,
            "bot",
            scripted_agent("bot", default="better").model_copy(update={"name": "Bot"}),
        )
    assert changed.version == 2
    async with database.session() as session:
        current = await agents_repo.get_agent(session, "bot")
        versions = await agents_repo.list_versions(session, "bot")
        first = await agents_repo.get_version(session, "bot", 1)
    assert current.spec.config == {"default": "better"}
    assert [(v.version, v.state) for v in versions.items] == [(2, "active"), (1, "archived")]
    assert versions.items[0].parent_version == 1
    assert first.spec.config == {"default": "ok"}


async def test_candidate_versions_are_promoted_explicitly(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        proposed = await agents_repo.add_version(
            session, "bot", scripted_agent("bot", default="v2"), state="proposed", rationale="why"
        )
    async with database.session() as session:
        assert (await agents_repo.get_agent(session, "bot")).version == 1
    async with database.write() as session:
        candidate = await agents_repo.set_version_state(
            session, "bot", proposed.version, "candidate"
        )
        with pytest.raises(ValueError, match="active version"):
            await agents_repo.set_version_state(session, "bot", 1, "archived")
    assert candidate.state == "candidate"
    async with database.write() as session:
        promoted = await agents_repo.promote_version(session, "bot", 2)
    assert (promoted.version, promoted.spec.config) == (2, {"default": "v2"})
    async with database.session() as session:
        states = {
            v.version: v.state for v in (await agents_repo.list_versions(session, "bot")).items
        }
        rationale = (await agents_repo.get_version(session, "bot", 2)).rationale
    assert states == {1: "archived", 2: "active"}
    assert rationale == "why"


async def test_deleted_agent_is_gone_but_keeps_its_id(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
    async with database.write() as session:
        await agents_repo.delete_agent(session, "bot")
    async with database.session() as session:
        with pytest.raises(NotFound, match="No agent with id 'bot'"):
            await agents_repo.get_agent(session, "bot")
        assert (await agents_repo.list_agents(session)).total == 0
        assert (await agents_repo.get_version(session, "bot", 1)).version == 1
    with pytest.raises(Conflict):
        async with database.write() as session:
            await agents_repo.create_agent(session, scripted_agent("bot"))


async def test_unknown_agent_is_not_found(database: Database) -> None:
    async with database.write() as session:
        with pytest.raises(NotFound):
            await agents_repo.update_agent(session, "ghost", scripted_agent("ghost"))
        with pytest.raises(NotFound):
            await agents_repo.delete_agent(session, "ghost")


async def test_an_agent_exists_until_it_is_deleted(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        assert await agents_repo.agent_exists(session, "bot")
        assert not await agents_repo.agent_exists(session, "ghost")
    async with database.write() as session:
        await agents_repo.delete_agent(session, "bot")
    async with database.session() as session:
        assert not await agents_repo.agent_exists(session, "bot")
