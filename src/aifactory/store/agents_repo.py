"""Agents and their versions.

A change of what an agent does (kind, config, concurrency, rate limit) makes version n+1 and makes
it the active one; a new name alone does not. The reflection loop adds ``proposed`` or
``candidate`` versions beside the active one and promotes the one that proved better.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import AgentSpec
from aifactory.domain.paging import Page
from aifactory.domain.records import AgentRecord, AgentVersionRecord
from aifactory.errors import Conflict, NotFound
from aifactory.store.tables import VERSION_STATES, Agent, AgentVersion, utcnow


def _spec(agent_id: str, version: AgentVersion, name: str | None) -> AgentSpec:
    # Stored configs were validated when they were written; constructing without validating
    # again keeps old versions readable even if a config schema grows stricter later.
    return AgentSpec.model_construct(
        id=agent_id,
        name=name,
        kind=version.kind,  # type: ignore[arg-type]
        config=dict(version.config),
        max_concurrency=version.max_concurrency,
        rate_limit_per_minute=version.rate_limit_per_minute,
    )


def _record(agent: Agent, version: AgentVersion) -> AgentRecord:
    return AgentRecord(
        spec=_spec(agent.id, version, agent.name),
        version=version.version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _version_record(version: AgentVersion, agent_name: str | None) -> AgentVersionRecord:
    return AgentVersionRecord(
        agent_id=version.agent_id,
        version=version.version,
        spec=_spec(version.agent_id, version, version.name or agent_name),
        state=version.state,
        parent_version=version.parent_version,
        rationale=version.rationale,
        created_at=version.created_at,
    )


def _behaviour(spec: AgentSpec | AgentVersion) -> tuple[object, ...]:
    return (spec.kind, spec.config, spec.max_concurrency, spec.rate_limit_per_minute)


def _new_version(agent_id: str, number: int, spec: AgentSpec, **extra: object) -> AgentVersion:
    return AgentVersion(
        agent_id=agent_id,
        version=number,
        name=spec.name,
        kind=spec.kind,
        config=dict(spec.config),
        max_concurrency=spec.max_concurrency,
        rate_limit_per_minute=spec.rate_limit_per_minute,
        created_at=utcnow(),
        **extra,
    )


async def _agent(session: AsyncSession, agent_id: str, *, lock: bool = False) -> Agent:
    query = select(Agent).where(Agent.id == agent_id, Agent.deleted_at.is_(None))
    if lock:
        # Serialises version numbering on PostgreSQL; SQLite's single writer already does.
        query = query.with_for_update()
    agent = (await session.execute(query)).scalar_one_or_none()
    if agent is None:
        raise NotFound("agent", agent_id)
    return agent


async def _version(session: AsyncSession, agent_id: str, number: int) -> AgentVersion:
    version = await session.get(AgentVersion, (agent_id, number))
    if version is None:
        raise NotFound("agent version", f"{agent_id}@{number}")
    return version


async def create_agent(session: AsyncSession, spec: AgentSpec) -> AgentRecord:
    """Store a new agent as version 1; generate an id when the spec has none.

    Raises:
        Conflict: the id is taken (also by a deleted agent, whose results keep pointing at it).
    """
    agent_id = spec.id or f"agent-{uuid.uuid4().hex[:12]}"
    if await session.get(Agent, agent_id) is not None:
        raise Conflict(f"An agent with id {agent_id!r} already exists; choose another id.")
    now = utcnow()
    agent = Agent(id=agent_id, name=spec.name, current_version=1, created_at=now, updated_at=now)
    version = _new_version(agent_id, 1, spec, state="active")
    try:
        async with session.begin_nested():
            session.add(agent)
            await session.flush()
            session.add(version)
            await session.flush()
    except IntegrityError as exc:  # lost a race with another create of the same id
        raise Conflict(f"An agent with id {agent_id!r} already exists; choose another id.") from exc
    return _record(agent, version)


async def get_agent(session: AsyncSession, agent_id: str) -> AgentRecord:
    """The agent's active version.

    Raises:
        NotFound: no such agent, or it was deleted.
    """
    # One statement on the hot path of every run: the agent joined to its active version.
    row = (
        await session.execute(
            select(Agent, AgentVersion)
            .join(
                AgentVersion,
                (AgentVersion.agent_id == Agent.id)
                & (AgentVersion.version == Agent.current_version),
            )
            .where(Agent.id == agent_id, Agent.deleted_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        raise NotFound("agent", agent_id)
    return _record(row[0], row[1])


async def agent_exists(session: AsyncSession, agent_id: str) -> bool:
    """Whether :func:`get_agent` would find the agent (stored, not deleted, with its version)."""
    found = await session.execute(
        select(Agent.id)
        .join(
            AgentVersion,
            (AgentVersion.agent_id == Agent.id) & (AgentVersion.version == Agent.current_version),
        )
        .where(Agent.id == agent_id, Agent.deleted_at.is_(None))
    )
    return found.first() is not None


async def list_agents(
    session: AsyncSession, *, limit: int = 50, offset: int = 0
) -> Page[AgentRecord]:
    """Agents that are not deleted, by id."""
    alive = Agent.deleted_at.is_(None)
    total = (
        await session.execute(select(func.count()).select_from(Agent).where(alive))
    ).scalar_one()
    rows = await session.execute(
        select(Agent, AgentVersion)
        .join(
            AgentVersion,
            (AgentVersion.agent_id == Agent.id) & (AgentVersion.version == Agent.current_version),
        )
        .where(alive)
        .order_by(Agent.id)
        .limit(limit)
        .offset(offset)
    )
    items = [_record(agent, version) for agent, version in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


async def update_agent(session: AsyncSession, agent_id: str, spec: AgentSpec) -> AgentRecord:
    """Replace the agent's definition with ``spec`` (the caller merges a PATCH first).

    A change of kind, config, concurrency or rate limit makes version n+1, active; a new name is
    kept on the agent without a new version.

    Raises:
        NotFound: no such agent.
    """
    agent = await _agent(session, agent_id, lock=True)
    current = await _version(session, agent_id, agent.current_version)
    now = utcnow()
    agent.name = spec.name
    agent.updated_at = now
    if _behaviour(spec) == _behaviour(current):
        current.name = spec.name
        await session.flush()
        return _record(agent, current)
    number = await _next_version_number(session, agent_id)
    current.state = "archived"
    version = _new_version(agent_id, number, spec, state="active", parent_version=current.version)
    session.add(version)
    agent.current_version = number
    await session.flush()
    return _record(agent, version)


async def add_version(
    session: AsyncSession,
    agent_id: str,
    spec: AgentSpec,
    *,
    state: str = "candidate",
    parent_version: int | None = None,
    rationale: str | None = None,
) -> AgentVersionRecord:
    """Add a version that is not active yet (the reflection loop's ``proposed``/``candidate``).

    Raises:
        NotFound: no such agent.
        ValueError: ``state`` is not a version state, or is ``active`` (use promote_version).
    """
    if state not in VERSION_STATES or state == "active":
        raise ValueError(f"A new version's state must be 'candidate' or 'proposed', not {state!r}.")
    agent = await _agent(session, agent_id, lock=True)
    number = await _next_version_number(session, agent_id)
    version = _new_version(
        agent_id,
        number,
        spec,
        state=state,
        parent_version=parent_version or agent.current_version,
        rationale=rationale,
    )
    session.add(version)
    await session.flush()
    return _version_record(version, agent.name)


async def _next_version_number(session: AsyncSession, agent_id: str) -> int:
    query = select(func.max(AgentVersion.version)).where(AgentVersion.agent_id == agent_id)
    return int((await session.execute(query)).scalar_one() or 0) + 1


async def delete_agent(
    session: AsyncSession, agent_id: str, *, now: datetime | None = None
) -> None:
    """Soft-delete the agent: it disappears from lists, its results and runs stay.

    Raises:
        NotFound: no such agent.
    """
    agent = await _agent(session, agent_id)
    agent.deleted_at = now or utcnow()
    await session.flush()


async def list_versions(
    session: AsyncSession, agent_id: str, *, limit: int = 100, offset: int = 0
) -> Page[AgentVersionRecord]:
    """The agent's versions, newest first."""
    agent = await _agent(session, agent_id)
    where = AgentVersion.agent_id == agent_id
    total = (
        await session.execute(select(func.count()).select_from(AgentVersion).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(AgentVersion)
        .where(where)
        .order_by(AgentVersion.version.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [_version_record(v, agent.name) for v in rows.scalars()]
    return Page(items=items, total=total, limit=limit, offset=offset)


async def get_version(session: AsyncSession, agent_id: str, version: int) -> AgentVersionRecord:
    """One version of an agent (deleted agents' versions stay readable for their results).

    Raises:
        NotFound: no such agent or version.
    """
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    return _version_record(await _version(session, agent_id, version), agent.name)


async def set_version_state(
    session: AsyncSession, agent_id: str, version: int, state: str
) -> AgentVersionRecord:
    """Mark a non-active version ``candidate``, ``proposed`` or ``archived``.

    Raises:
        NotFound: no such agent or version.
        ValueError: ``state`` is unknown or ``active`` (use promote_version), or the version is the
            active one (promote another first).
    """
    if state not in VERSION_STATES or state == "active":
        raise ValueError(
            f"A version's state can be set to candidate, proposed or archived, not {state!r}; "
            "use promote_version to make a version active."
        )
    agent = await _agent(session, agent_id, lock=True)
    if version == agent.current_version:
        raise ValueError(
            f"Version {version} is the active version of {agent_id!r}; promote another first."
        )
    row = await _version(session, agent_id, version)
    row.state = state
    await session.flush()
    return _version_record(row, agent.name)


async def promote_version(session: AsyncSession, agent_id: str, version: int) -> AgentRecord:
    """Make ``version`` the active one; the one it replaces becomes ``archived``.

    Raises:
        NotFound: no such agent or version.
    """
    agent = await _agent(session, agent_id, lock=True)
    row = await _version(session, agent_id, version)
    if agent.current_version != version:
        await session.execute(
            update(AgentVersion)
            .where(AgentVersion.agent_id == agent_id, AgentVersion.state == "active")
            .values(state="archived")
        )
        agent.current_version = version
        agent.updated_at = utcnow()
    row.state = "active"
    await session.flush()
    return _record(agent, row)
