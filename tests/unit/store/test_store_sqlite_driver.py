"""The one-trip aiosqlite adapter: the same answers as the stock one, fewer trips to its thread."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import exc, text

from aifactory.store.database import Database
from aifactory.store.sqlite_driver import one_trip_dbapi

# Under CI (the locked SQLAlchemy 2.1) the adapter must be there: these tests fail, never skip.
pytestmark = pytest.mark.skipif(
    one_trip_dbapi() is None and not os.environ.get("CI"),
    reason="this SQLAlchemy has no 2.1 asyncio adapter classes",
)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to an aiosqlite thread, in order."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return sent


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def test_a_read_is_one_trip_per_statement_and_one_to_roll_back(
    db: Database, trips: list[str]
) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    trips.clear()
    async with db.session() as session:
        first = (await session.execute(text("SELECT 1 AS one"))).one()
        second = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert driver is not None and driver.in_transaction  # BEGIN went with the first statement
    assert (first.one, second) == (1, 0)
    # Two statements, one ROLLBACK (not a second one when the pool takes it back).
    assert trips == ["_run", "_run", "rollback"]
    assert not driver.in_transaction


async def test_a_transaction_that_runs_nothing_costs_no_trip(
    db: Database, trips: list[str]
) -> None:
    async with db.session() as session:
        await session.connection()  # begun, with nothing to run
    async with db.write():
        pass
    assert trips == []


async def test_writes_report_rowcount_and_lastrowid_and_commit(db: Database) -> None:
    async with db.write() as session:
        inserted = await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1  # type: ignore[attr-defined]
        await session.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        updated = await session.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2  # type: ignore[attr-defined]
    async with db.session() as session:
        names = (await session.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a", "b!", "c!"]


async def test_a_failed_statement_raises_the_usual_error_and_rolls_back(db: Database) -> None:
    async def insert_twice() -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await session.execute(text("INSERT INTO t (name) VALUES ('a')"))

    with pytest.raises(exc.IntegrityError):
        await insert_twice()
    async with db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_streamed_read_begins_its_transaction_first(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
    async with db.session() as session:
        streamed = await session.stream(text("SELECT name FROM t ORDER BY id"))
        assert [row.name async for row in streamed] == ["a", "b"]
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert driver is not None and driver.in_transaction


async def test_rows_are_fetched_in_parts_as_asked(db: Database) -> None:
    async with db.write() as session:
        await session.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": str(i)} for i in range(5)]
        )
    async with db.session() as session:
        result = await session.execute(text("SELECT name FROM t ORDER BY id"))
        assert [r.name for r in result.fetchmany(2)] == ["0", "1"]
        assert [r.name for r in result.fetchmany(2)] == ["2", "3"]
        assert [r.name for r in result.fetchall()] == ["4"]
