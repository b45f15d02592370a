"""What the distributed queue asks of the database: worker heartbeats and pending cases per run.

A worker announces itself with a heartbeat: a row of the ``locks`` table named
``worker:<owner>`` whose ``expires_at`` it pushes forward every second or so. The database is
the one thing every API replica and worker shares whatever the broker, so "which workers are
alive" is answered here, for the reconciler (whose tokens may a dead worker have held?) and for
``/api/v1/metrics`` (workers seen).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.store._bulk import rowcount
from aifactory.store.tables import Lock, Result, utcnow

WORKER_PREFIX = "worker:"
"""Lock names of worker heartbeats start with this."""

_results = cast(Table, Result.__table__)


def _heartbeat_name(owner: str) -> str:
    return (WORKER_PREFIX + owner)[:100]


async def beat(
    session: AsyncSession, owner: str, *, ttl_s: float, now: datetime | None = None
) -> None:
    """Record that worker ``owner`` is alive for the next ``ttl_s`` seconds."""
    now = now or utcnow()
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(Lock).values(
        name=_heartbeat_name(owner), owner=owner, expires_at=now + timedelta(seconds=ttl_s)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Lock.name], set_={"expires_at": stmt.excluded.expires_at}
    )
    await session.execute(stmt)


async def stop_beating(session: AsyncSession, owner: str) -> None:
    """Remove the heartbeat of ``owner`` (it stopped cleanly)."""
    await session.execute(delete(Lock).where(Lock.name == _heartbeat_name(owner)))


async def live_workers(session: AsyncSession, *, now: datetime | None = None) -> list[str]:
    """Owners whose heartbeat has not run out, in name order."""
    now = now or utcnow()
    rows = await session.execute(
        select(Lock.owner)
        .where(Lock.name.startswith(WORKER_PREFIX, autoescape=True), Lock.expires_at > now)
        .order_by(Lock.owner)
    )
    return [str(owner) for owner in rows.scalars()]


async def forget_dead_workers(
    session: AsyncSession, *, older_than_s: float, now: datetime | None = None
) -> int:
    """Delete heartbeats that ran out more than ``older_than_s`` seconds ago; how many."""
    cutoff = (now or utcnow()) - timedelta(seconds=older_than_s)
    result = await session.execute(
        delete(Lock).where(
            Lock.name.startswith(WORKER_PREFIX, autoescape=True), Lock.expires_at < cutoff
        )
    )
    return rowcount(result)


async def pending_counts(session: AsyncSession, run_ids: list[str]) -> dict[str, int]:
    """How many cases of each run wait unclaimed (``pending``); every run given is a key."""
    counts = dict.fromkeys(run_ids, 0)
    if not run_ids:
        return counts
    rows = await session.execute(
        select(_results.c.run_id, func.count())
        .where(_results.c.run_id.in_(run_ids), _results.c.status == "pending")
        .group_by(_results.c.run_id)
    )
    for run_id, n in rows:
        counts[str(run_id)] = int(n)
    return counts
