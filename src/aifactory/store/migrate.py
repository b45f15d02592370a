"""Schema migrations run from code: ``aifactory serve`` on start and ``aifactory db upgrade``.

One Alembic chain serves SQLite and PostgreSQL. On PostgreSQL the upgrade holds an advisory lock,
so several processes starting at once migrate one after another instead of racing; servers
migrate through :mod:`aifactory.service.provisioning`, which holds that lock for the rest of
their start-up work too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aifactory.settings import Settings
from aifactory.store.database import SQLITE_BEGIN_OPTION, create_engine_for

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_ID = 0x41494641  # "AIFA": any constant shared by every process of the service

_Action = Callable[[Connection, Config], None]


def alembic_config() -> Config:
    """The Alembic configuration, built in code (no ``alembic.ini`` is needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    """The newest revision this package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(settings_or_url: Settings | str | AsyncEngine, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest)."""
    await _run(settings_or_url, lambda conn, cfg: command.upgrade(cfg, revision))


async def upgrade_connection(conn: AsyncConnection, revision: str = "head") -> None:
    """Bring the database up to ``revision`` inside ``conn``'s open transaction.

    On PostgreSQL the schema's advisory lock is taken first and held until that transaction ends
    (:mod:`aifactory.service.provisioning` does more in it); on SQLite the caller began it
    ``IMMEDIATE``.
    """
    await hold_lock(conn)
    await conn.run_sync(_with_config, lambda _conn, cfg: command.upgrade(cfg, revision))


async def downgrade(settings_or_url: Settings | str | AsyncEngine, revision: str = "base") -> None:
    """Take the database down to ``revision`` (default: ``base``, an empty schema)."""
    await _run(settings_or_url, lambda conn, cfg: command.downgrade(cfg, revision))


async def current_revision(settings_or_url: Settings | str | AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    found: list[str | None] = []

    def read(conn: Connection, _cfg: Config) -> None:
        found.append(MigrationContext.configure(conn).get_current_revision())

    await _run(settings_or_url, read)
    return found[0]


async def _run(settings_or_url: Settings | str | AsyncEngine, action: _Action) -> None:
    if isinstance(settings_or_url, AsyncEngine):
        engine, owned = settings_or_url, False
    else:
        engine, owned = create_engine_for(settings_or_url), True
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # Hold SQLite's write lock for the whole migration.
                await conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            async with conn.begin():
                await hold_lock(conn)
                await conn.run_sync(_with_config, action)
    finally:
        if owned:
            await engine.dispose()


async def hold_lock(conn: AsyncConnection) -> None:
    """On PostgreSQL, wait for the schema's advisory lock and hold it until the transaction ends.

    Taken again by a transaction that holds it, it is granted at once. (On SQLite a transaction
    begun ``IMMEDIATE`` holds the file's write lock, which serves the same end.)
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})


def _with_config(conn: Connection, action: _Action) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    action(conn, config)
