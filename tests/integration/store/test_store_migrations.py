"""The one migration chain builds exactly the schema the tables describe, and takes it down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from aifactory.store import migrate
from aifactory.store.database import create_engine_for
from aifactory.store.tables import Base

pytest_plugins = ["tests.fakes.databases"]


def _schema_diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


async def test_upgrade_matches_tables_and_downgrade_removes_everything(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
    finally:
        # Leave the (shared) database as the other tests expect it.
        await migrate.upgrade(engine)
        await engine.dispose()

    engine = create_engine_for(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await migrate.upgrade(database_url)
    assert await migrate.current_revision(database_url) == migrate.head_revision()
