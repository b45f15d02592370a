"""Named leases in the database, e.g. so one process at a time runs the reconciler.

A lock is held until it expires; its owner renews it before then. Taking a free or expired lock
and renewing one's own are the same upsert, atomic on both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.store._bulk import rowcount
from aifactory.store.tables import Lock, utcnow


async def acquire_lock(
    session: AsyncSession, name: str, owner: str, *, ttl_s: float, now: datetime | None = None
) -> bool:
    """Take or renew the lock ``name`` for ``owner`` until ``now + ttl_s``.

    Returns:
        Whether ``owner`` holds the lock now (False while another owner's lease runs).
    """
    now = now or utcnow()
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(Lock).values(
        name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_s)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Lock.name],
        set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
        where=(Lock.owner == owner) | (Lock.expires_at <= now),
    )
    await session.execute(stmt)
    holder = (await session.execute(select(Lock.owner).where(Lock.name == name))).scalar_one()
    return bool(holder == owner)


async def release_lock(session: AsyncSession, name: str, owner: str) -> bool:
    """Give up the lock if ``owner`` holds it; returns whether it did."""
    result = await session.execute(delete(Lock).where(Lock.name == name, Lock.owner == owner))
    return rowcount(result) == 1
