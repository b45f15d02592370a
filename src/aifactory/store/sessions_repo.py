"""What the dashboard's sessions need from the API keys table.

A dashboard session names the API key it was opened with (by id, never by secret). Its signature
covers the key's stored hash but is keyed by ``AIFACTORY_SESSION_SECRET`` alone, so nothing read
from here can sign a session; and a session dies with its key: a revoked or deleted key is
simply not found here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.records import ApiKeyRecord
from aifactory.store.tables import ApiKey


async def active_key(session: AsyncSession, key_id: str) -> tuple[ApiKeyRecord, str] | None:
    """The unrevoked key ``key_id`` and its stored hash, or None.

    The hash never leaves the server; it is part of the message its dashboard sessions sign.
    """
    row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    record = ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
    return record, row.key_hash
