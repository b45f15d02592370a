"""Alembic environment: migrates on a connection handed in by :mod:`aifactory.store.migrate`.

Run through ``aifactory db upgrade`` (or ``aifactory serve``), never through an ``alembic.ini``:
the configuration is built in code and the connection arrives in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from aifactory.store.tables import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection``, inside its transaction."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "Run migrations with `aifactory db upgrade` (aifactory.store.migrate), "
            "which hands Alembic a database connection."
        )
    run_migrations(connection)


_main()
