"""pytest plugin: real databases for store tests, SQLite and PostgreSQL alike.

``database`` is parametrised over both backends and gives each test a migrated, empty database.
PostgreSQL is the server on 127.0.0.1:5432 (user ``postgres``, trust auth): the session creates a
uniquely named database and drops it at the end, or uses the one named by
``AIFACTORY_TEST_PG_DB`` (CI creates and drops that one). An unreachable server skips the
PostgreSQL tests, with the reason, only outside CI; when ``CI`` is set it fails them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from aifactory.store import migrate
from aifactory.store.database import Database
from aifactory.store.tables import Base

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_url(dbname: str) -> str:
    """The SQLAlchemy URL of a database on the test server."""
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _database_exists(name: str) -> bool:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def _unreachable(reason: str) -> NoReturn:
    message = f"PostgreSQL on {PG_HOST}:{PG_PORT} is unreachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the PostgreSQL tests.")
    print(f"\nSkipping PostgreSQL tests: {message}.")
    pytest.skip(f"{message}; start it to run the PostgreSQL tests.")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this test session."""
    name = os.environ.get("AIFACTORY_TEST_PG_DB") or ""
    try:
        exists = asyncio.run(_database_exists(name))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _unreachable(f"{type(exc).__name__}: {exc}")
    created = False
    if not exists:
        name = name or f"aifactory_test_{os.getpid()}_{secrets.token_hex(4)}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        created = True
    url = pg_url(name)
    asyncio.run(migrate.upgrade(url))
    try:
        yield url
    finally:
        if created:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


def _copy_sqlite(template: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{target}{suffix}")


async def _truncate_all(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.write() as session:
        await session.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the backend a parametrised store test runs on."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated, empty database of ``backend`` for this test."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    target = tmp_path / "store.db"
    _copy_sqlite(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def database(backend: str, database_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on a migrated, empty database of each backend."""
    db = Database.from_url(database_url)
    if backend == "postgres":
        await _truncate_all(db)
    try:
        yield db
    finally:
        await db.dispose()
