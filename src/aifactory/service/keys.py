"""API keys: created (shown once), listed, revoked."""

from __future__ import annotations

from aifactory.api.auth import Authenticator
from aifactory.api.schemas import KeyCreate, KeyCreated, KeyPublic, Page
from aifactory.domain.records import ApiKeyRecord
from aifactory.store import keys_repo
from aifactory.store.database import Database


def key_public(record: ApiKeyRecord) -> KeyPublic:
    return KeyPublic(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        scopes=list(record.scopes),
        created_at=record.created_at,
        last_used_at=record.last_used_at,
        revoked_at=record.revoked_at,
    )


class KeyService:
    def __init__(self, db: Database, auth: Authenticator) -> None:
        self.db = db
        self.auth = auth

    async def create(self, body: KeyCreate) -> KeyCreated:
        async with self.db.write() as session:
            record, plaintext = await keys_repo.create_key(session, body.name, body.scopes)
        return KeyCreated(**key_public(record).model_dump(), key=plaintext)

    async def list(self, *, limit: int, offset: int) -> Page[KeyPublic]:
        async with self.db.session() as session:
            page = await keys_repo.list_keys(session, limit=limit, offset=offset)
        return Page[KeyPublic](
            items=[key_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    async def revoke(self, key_id: str) -> None:
        async with self.db.write() as session:
            await keys_repo.revoke_key(session, key_id)
        self.auth.forget(key_id)
