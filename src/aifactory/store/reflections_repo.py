"""Reflections: a loop's parameters, progress (baseline, iterations) and outcome, one row each.

The loop writes its whole measured state (a JSON document) after every step, so a reader always
sees everything measured so far, and nothing is lost when the loop stops for any reason.
Cancelling is a flag the loop reads between steps, so a cancel reaches the loop whichever server
process runs it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.paging import Page
from aifactory.errors import NotFound
from aifactory.store._bulk import rowcount
from aifactory.store.tables import Agent, Reflection, utcnow

ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class ReflectionRecord:
    """A reflection row, as the service reads it."""

    id: str
    agent_id: str
    suite_id: str
    status: str
    stop_reason: str | None
    error: str | None
    params: dict[str, Any]
    state: dict[str, Any]
    accepted_version: int | None
    cost_usd: float
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


def _record(row: Reflection) -> ReflectionRecord:
    return ReflectionRecord(
        id=row.id,
        agent_id=row.agent_id,
        suite_id=row.suite_id,
        status=row.status,
        stop_reason=row.stop_reason,
        error=row.error,
        params=dict(row.params or {}),
        state=dict(row.state or {}),
        accepted_version=row.accepted_version,
        cost_usd=row.cost_usd,
        cancel_requested=row.cancel_requested,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
    )


async def _row(session: AsyncSession, reflection_id: str) -> Reflection:
    row = await session.get(Reflection, reflection_id, populate_existing=True)
    if row is None:
        raise NotFound("reflection", reflection_id)
    return row


async def create_reflection(
    session: AsyncSession,
    agent_id: str,
    suite_id: str,
    params: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> ReflectionRecord:
    """Store a new, queued reflection.

    Raises:
        NotFound: no such agent (or it was deleted).
    """
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.deleted_at is not None:
        raise NotFound("agent", agent_id)
    now = utcnow()
    row = Reflection(
        id=str(uuid.uuid4()),
        agent_id=agent_id,
        suite_id=suite_id,
        status="queued",
        params=params,
        state=state or {},
        cost_usd=0.0,
        cancel_requested=False,
        created_at=now,
        heartbeat_at=now,
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def get_reflection(session: AsyncSession, reflection_id: str) -> ReflectionRecord:
    """One reflection.

    Raises:
        NotFound: no such reflection.
    """
    return _record(await _row(session, reflection_id))


async def active_for_agent(session: AsyncSession, agent_id: str) -> ReflectionRecord | None:
    """The agent's queued or running reflection, if any."""
    row = (
        await session.execute(
            select(Reflection)
            .where(Reflection.agent_id == agent_id, Reflection.status.in_(ACTIVE))
            .order_by(Reflection.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    return _record(row) if row is not None else None


async def list_reflections(
    session: AsyncSession, *, agent_id: str | None = None, limit: int = 50, offset: int = 0
) -> Page[ReflectionRecord]:
    """Reflections, newest first, optionally of one agent."""
    where = Reflection.agent_id == agent_id if agent_id is not None else Reflection.id.is_not(None)
    total = (
        await session.execute(select(func.count()).select_from(Reflection).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(Reflection)
        .where(where)
        .order_by(Reflection.created_at.desc(), Reflection.id)
        .limit(limit)
        .offset(offset)
    )
    return Page(items=[_record(r) for r in rows.scalars()], total=total, limit=limit, offset=offset)


async def save_progress(
    session: AsyncSession,
    reflection_id: str,
    *,
    state: dict[str, Any],
    cost_usd: float,
    accepted_version: int | None,
) -> bool:
    """Store what the loop measured so far and stamp its heartbeat.

    Returns:
        Whether the reflection is still active (a finished one is never changed again).
    """
    now = utcnow()
    result = await session.execute(
        update(Reflection)
        .where(Reflection.id == reflection_id, Reflection.status.in_(ACTIVE))
        .values(
            state=state,
            cost_usd=cost_usd,
            accepted_version=accepted_version,
            status="running",
            started_at=func.coalesce(Reflection.started_at, now),
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def heartbeat(session: AsyncSession, reflection_id: str) -> bool:
    """Stamp the heartbeat; answers whether a cancel was requested."""
    await session.execute(
        update(Reflection)
        .where(Reflection.id == reflection_id, Reflection.status.in_(ACTIVE))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    row = await _row(session, reflection_id)
    return row.cancel_requested or row.status not in ACTIVE


async def finish(
    session: AsyncSession,
    reflection_id: str,
    *,
    status: str,
    stop_reason: str,
    error: str | None = None,
) -> bool:
    """Move an active reflection to its final status; False when it had finished already."""
    now = utcnow()
    result = await session.execute(
        update(Reflection)
        .where(Reflection.id == reflection_id, Reflection.status.in_(ACTIVE))
        .values(
            status=status,
            stop_reason=stop_reason,
            error=error,
            finished_at=now,
            heartbeat_at=now,
            started_at=func.coalesce(Reflection.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def request_cancel(session: AsyncSession, reflection_id: str) -> bool:
    """Ask the loop to stop; answers whether the reflection was still active.

    Raises:
        NotFound: no such reflection.
    """
    row = await _row(session, reflection_id)
    if row.status not in ACTIVE:
        return False
    row.cancel_requested = True
    await session.flush()
    return True


async def fail_stale(
    session: AsyncSession, *, older_than_s: float, reflection_id: str | None = None
) -> int:
    """Fail active reflections whose loop stopped stamping its heartbeat (its server died).

    Returns:
        How many were failed.
    """
    now = utcnow()
    conditions = [
        Reflection.status.in_(ACTIVE),
        Reflection.heartbeat_at < now - timedelta(seconds=older_than_s),
    ]
    if reflection_id is not None:
        conditions.append(Reflection.id == reflection_id)
    result = await session.execute(
        update(Reflection)
        .where(*conditions)
        .values(
            status="failed",
            stop_reason="error",
            error=(
                "The server running this reflection stopped before it finished; what it "
                "measured is kept. Start a new reflection to go on."
            ),
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
