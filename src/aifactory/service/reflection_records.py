"""``StoredReflections``: the reflection loop's records, kept in the database.

Implements :class:`aifactory.engine.reflection_ports.ReflectionRecords` over the reflections,
agents and suites repositories; each call is one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from aifactory.domain.models import AgentSpec
from aifactory.domain.reflection import ReflectionCreate
from aifactory.engine.reflection_ports import ReflectionProgress, ReflectionSetup
from aifactory.store import agents_repo, reflections_repo, suites_repo
from aifactory.store.database import Database


class StoredReflections:
    """A reflection's setup, progress and outcome, and the agent versions it makes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def setup(self, reflection_id: str) -> ReflectionSetup:
        async with self.db.session() as session:
            record = await reflections_repo.get_reflection(session, reflection_id)
            params = ReflectionCreate.model_validate(record.params)
            agent = await agents_repo.get_agent(session, record.agent_id)
            suite = await suites_repo.get_suite(session, params.suite_id)
            cases = [
                c
                async for c in suites_repo.iter_suite_cases(
                    session, params.suite_id, version=suite.version
                )
            ]
        return ReflectionSetup(
            agent_id=record.agent_id,
            params=params,
            agent=agent.spec,
            agent_version=agent.version,
            suite_id=suite.id,
            suite_version=suite.version,
            cases=cases,
        )

    async def add_candidates(
        self, agent_id: str, candidates: Sequence[tuple[AgentSpec, str]], *, parent_version: int
    ) -> list[int]:
        versions: list[int] = []
        async with self.db.write() as session:
            for spec, rationale in candidates:
                made = await agents_repo.add_version(
                    session,
                    agent_id,
                    spec,
                    state="candidate",
                    parent_version=parent_version,
                    rationale=rationale,
                )
                versions.append(made.version)
        return versions

    async def promote(self, agent_id: str, version: int, *, if_current_in: Collection[int]) -> int:
        async with self.db.write() as session:
            agent = await agents_repo.get_agent(session, agent_id)
            if agent.version not in if_current_in:
                return agent.version
            promoted = await agents_repo.promote_version(session, agent_id, version)
        return promoted.version

    async def set_states(self, agent_id: str, states: Mapping[int, str]) -> None:
        async with self.db.write() as session:
            for version, state in states.items():
                await agents_repo.set_version_state(session, agent_id, version, state)

    async def save(self, reflection_id: str, progress: ReflectionProgress) -> bool:
        async with self.db.write() as session:
            return await reflections_repo.save_progress(
                session,
                reflection_id,
                state=progress.state,
                cost_usd=progress.cost_usd,
                accepted_version=progress.accepted_version,
            )

    async def finish(
        self,
        reflection_id: str,
        progress: ReflectionProgress,
        *,
        status: str,
        stop_reason: str,
        error: str | None,
    ) -> None:
        async with self.db.write() as session:
            await reflections_repo.save_progress(
                session,
                reflection_id,
                state=progress.state,
                cost_usd=progress.cost_usd,
                accepted_version=progress.accepted_version,
            )
            await reflections_repo.finish(
                session, reflection_id, status=status, stop_reason=stop_reason, error=error
            )

    async def heartbeat(self, reflection_id: str) -> bool:
        async with self.db.write() as session:
            return await reflections_repo.heartbeat(session, reflection_id)
