"""API keys: created (shown once), listed, revoked."""

from __future__ import annotations

from collections.abc import Sequence

from aifactory.domain.paging import Page
from aifactory.domain.records import ApiKeyRecord
from aifactory.service.auth import Authenticator
from aifactory.store import keys_repo
from aifactory.store.database import Database


class KeyService:
    def __init__(self, db: Database, auth: Authenticator | None = None) -> None:
        """Keys of ``db``; ``auth`` is the serving process's authenticator, told of revocations
        at once (the command line has none)."""
        self.db = db
        self.auth = auth

    async def create(self, name: str, scopes: Sequence[str]) -> tuple[ApiKeyRecord, str]:
        """A new key and its secret, which is never stored and never shown again."""
        async with self.db.write() as session:
            return await keys_repo.create_key(session, name, list(scopes))

    async def list(self, *, limit: int, offset: int) -> Page[ApiKeyRecord]:
        async with self.db.session() as session:
            return await keys_repo.list_keys(session, limit=limit, offset=offset)

    async def revoke(self, key_id: str) -> None:
        async with self.db.write() as session:
            await keys_repo.revoke_key(session, key_id)
        if self.auth is not None:
            self.auth.forget(key_id)
