"""Persistence: SQLAlchemy tables, repositories and Alembic migrations (SQLite or PostgreSQL).

Repositories are modules of async functions that take an ``AsyncSession`` and return domain
models or small records, never ORM objects::

    db = Database.from_settings(settings)
    await migrate.upgrade(settings)
    async with db.write() as session:
        run = await runs_repo.create_run_with_pending_results(session, new_run, cases)

Use ``db.session()`` to read and ``db.write()`` to change data; ``write()`` must not be nested
(on SQLite it holds the one writer's turn).
"""

from __future__ import annotations

from aifactory.store.database import Database, create_engine_for
from aifactory.store.errors import Conflict, NotFound, StoreError

__all__ = ["Conflict", "Database", "NotFound", "StoreError", "create_engine_for"]
