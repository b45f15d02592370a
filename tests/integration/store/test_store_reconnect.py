"""PostgreSQL connections killed under the pool: the store reconnects by itself.

Pooled connections are not pinged before use, so a connection the server has closed fails the
one statement that finds it dead; SQLAlchemy then invalidates the whole pool and the next
session connects afresh.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from tests.fakes.databases import _admin

from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


async def _read(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


@pytest.mark.postgres
async def test_reads_recover_after_the_server_kills_every_pooled_connection(
    postgres_url: str,
) -> None:
    db = Database.from_url(postgres_url, pool_size=3)
    try:
        # Fill the pool with three open connections, and learn their server processes.
        async with db.session() as a, db.session() as b, db.session() as c:
            pids = [
                int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                for session in (a, b, c)
            ]
        await _admin(f"SELECT pg_terminate_backend(pid) FROM unnest(ARRAY{pids}) AS pid")
        outcomes: list[int | DBAPIError] = []
        for _ in range(5):
            try:
                outcomes.append(await _read(db))
            except DBAPIError as exc:
                outcomes.append(exc)
        failures = [o for o in outcomes if isinstance(o, DBAPIError)]
        # At most the one statement that met a dead connection fails; the rest reconnect.
        assert len(failures) <= 1
        assert all(failure.connection_invalidated for failure in failures)
        assert outcomes[-4:] == [1, 1, 1, 1]
    finally:
        await db.dispose()
