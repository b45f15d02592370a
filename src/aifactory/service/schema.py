"""The database's schema: migrate it up or down, and tell its revision (``aifactory db``)."""

from __future__ import annotations

from aifactory.settings import Settings
from aifactory.store import migrate


class SchemaService:
    """Alembic migrations of the database ``settings`` name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def upgrade(self, revision: str = "head") -> str | None:
        """Migrate up to ``revision``; the revision the database is at after."""
        await migrate.upgrade(self.settings, revision)
        return await self.current()

    async def downgrade(self, revision: str) -> str | None:
        """Migrate down to ``revision`` (``base`` removes every table); the revision after."""
        await migrate.downgrade(self.settings, revision)
        return await self.current()

    async def current(self) -> str | None:
        return await migrate.current_revision(self.settings)
