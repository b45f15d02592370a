"""Engine configuration: URL forms, SQLite pragmas, the pooler mode, aware datetimes."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from aifactory.errors import ConfigError
from aifactory.settings import load_settings
from aifactory.store.database import (
    SQLITE_POOL_SIZE,
    Database,
    create_engine_for,
    normalize_url,
    postgres_engine_options,
)
from aifactory.store.tables import UTCDateTime

pytest_plugins = ["tests.fakes.databases"]


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("postgres://u:p@db.example.supabase.co:6543/postgres", "postgresql+asyncpg", "postgres"),
        ("postgresql://u:p@host/db", "postgresql+asyncpg", "db"),
        ("postgresql+asyncpg://u:p@host/db", "postgresql+asyncpg", "db"),
        ("sqlite:///./a.db", "sqlite+aiosqlite", "./a.db"),
        ("sqlite+aiosqlite:////tmp/a.db", "sqlite+aiosqlite", "/tmp/a.db"),
    ],
)
def test_urls_are_rewritten_to_the_async_drivers(given: str, driver: str, database: str) -> None:
    url = normalize_url(given)
    assert (url.drivername, url.database) == (driver, database)


def test_unsupported_backend_is_a_config_error_that_says_what_works() -> None:
    with pytest.raises(ConfigError, match="only SQLite and PostgreSQL"):
        normalize_url("mysql://u@h/db")


def test_pooler_mode_turns_statement_caches_off_and_names_statements_uniquely() -> None:
    options = postgres_engine_options(prepared_statements=False, pool_size=5, max_overflow=0)
    args = options["connect_args"]
    assert (args["statement_cache_size"], args["prepared_statement_cache_size"]) == (0, 0)
    name = args["prepared_statement_name_func"]
    assert name() != name()
    assert options["poolclass"] is NullPool


def test_pool_settings_apply_when_prepared_statements_are_on() -> None:
    settings = load_settings({"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/postgres"})
    db = Database(create_engine_for(settings, pool_size=7))
    assert db.pool_status() == {"backend": "postgresql", "pool_size": 7, "checked_out": 0}
    off = load_settings(
        {"DATABASE_URL": "postgres://u@h/d", "AIFACTORY_DB_PREPARED_STATEMENTS": "false"}
    )
    assert Database.from_settings(off).pool_status()["pool_size"] == 0


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database.from_settings(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}))
    try:
        async with db.session() as session:
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
            fks = (await session.execute(text("PRAGMA foreign_keys"))).scalar_one()
            timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert (mode, fks) == ("wal", 1)
        assert timeout >= 5000
        assert await db.ping()
        assert db.pool_status()["backend"] == "sqlite"
    finally:
        await db.dispose()


async def test_ping_is_false_when_the_database_cannot_be_reached() -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = Database.from_url(f"postgresql://postgres@127.0.0.1:{port}/nothing")
    try:
        assert await db.ping() is False
    finally:
        await db.dispose()


def test_naive_datetimes_are_refused_and_aware_ones_stored_as_utc() -> None:
    column = UTCDateTime()
    sqlite_dialect = create_engine_for("sqlite://").dialect
    with pytest.raises(ValueError, match="timezone-aware"):
        column.process_bind_param(datetime(2025, 1, 1), sqlite_dialect)  # noqa: DTZ001
    plus_two = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    stored = column.process_bind_param(plus_two, sqlite_dialect)
    assert stored == datetime(2025, 1, 1, 10)  # noqa: DTZ001
    assert column.process_result_value(stored, sqlite_dialect) == datetime(
        2025, 1, 1, 10, tzinfo=UTC
    )


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = normalize_url("postgresql://u:p@db.example.supabase.co:5432/postgres?sslmode=require")
    assert url.query == {"ssl": "require"}
    kept = normalize_url("postgresql://u:p@host/db?ssl=verify-full&sslmode=require")
    assert kept.query["ssl"] == "verify-full"


async def test_a_session_of_single_statements_on_sqlite_opens_no_transaction(
    tmp_path: Path,
) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'single.db'}")

    async def in_transaction(session: AsyncSession) -> bool:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert driver is not None
        return bool(driver.in_transaction)

    try:
        async with db.session(snapshot=False) as session:
            await session.execute(text("SELECT 1"))
            assert not await in_transaction(session)
        async with db.session() as session:
            await session.execute(text("SELECT 2"))
            assert await in_transaction(session)
    finally:
        await db.dispose()


async def test_sqlite_keeps_its_connections_under_load(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    connects: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda *_: connects.append(None))

    async def read() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    try:
        for _ in range(3):  # more readers at once than connections, three times over
            await asyncio.gather(*(read() for _ in range(SQLITE_POOL_SIZE + 5)))
        assert db.pool_status()["pool_size"] == SQLITE_POOL_SIZE
    finally:
        await db.dispose()
    # Opened once each: none closed on return and opened again for the next wave.
    assert len(connects) == SQLITE_POOL_SIZE
