"""Persistence: SQLAlchemy tables, repositories and Alembic migrations (SQLite or PostgreSQL).

Repositories are modules of async functions that take an ``AsyncSession`` and return domain
records, never ORM objects, and raise the domain's errors (``NotFound``, ``Conflict``)::

    db = Database.from_settings(settings)
    await migrate.upgrade(settings)
    async with db.write() as session:
        run = await runs_repo.create_run_with_pending_results(session, new_run, cases)

Use ``db.session()`` to read and ``db.write()`` to change data; ``write()`` must not be nested
(on SQLite it holds the one writer's turn).
"""

from __future__ import annotations

from aifactory.store.database import Database, create_engine_for

__all__ = ["Database", "create_engine_for"]
