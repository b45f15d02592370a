"""The connection to the database: one async engine, read sessions and serialised write sessions.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on; it allows one
writer at a time, so :meth:`Database.write` takes an ``asyncio.Lock`` and opens its transaction
with ``BEGIN IMMEDIATE`` (a deferred transaction that later writes can fail with "database is
locked" without waiting). Each statement is one trip to aiosqlite's thread, not four
(:mod:`aifactory.store.sqlite_driver`). PostgreSQL goes through asyncpg; behind a transaction
pooler such as Supabase's (``AIFACTORY_DB_PREPARED_STATEMENTS=false``) prepared statements are not
cached and get unique names, and connections are not pooled here since the pooler pools them.

On PostgreSQL a read session runs in autocommit: each of its statements is one round trip, with no
``BEGIN`` before it and no ``ROLLBACK`` after. Pooled connections are not pinged on checkout (a
round trip on every request); a connection found dead raises once and SQLAlchemy then invalidates
every connection of the pool opened before it, so the next checkout connects afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from aifactory.errors import ConfigError
from aifactory.settings import Settings
from aifactory.store.file_lock import InterProcessLock
from aifactory.store.sqlite_driver import begin_with_next_statement, one_trip_dbapi

SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_POOL_SIZE = 10
SQLITE_POOL_SIZE = 15
DEFAULT_MAX_OVERFLOW = 10
POOL_RECYCLE_S = 300
SQLITE_BEGIN_OPTION = "aifactory_sqlite_begin"


def normalize_url(url: str) -> URL:
    """Parse a database URL, turning ``postgres://`` and ``postgresql://`` into asyncpg URLs.

    Supabase and most hosts hand out ``postgres://…`` strings; SQLAlchemy needs the async driver
    named. ``sqlite://`` becomes ``sqlite+aiosqlite://``.

    Raises:
        ConfigError: the URL cannot be parsed or names a backend other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError for malformed URLs
        raise ConfigError(
            "DATABASE_URL is not a valid database URL; use sqlite+aiosqlite:///path.db "
            "or postgresql+asyncpg://user:password@host/dbname."
        ) from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        query = dict(parsed.query)
        if "sslmode" in query and "ssl" not in query:
            # libpq's sslmode (in every hosted connection string) is asyncpg's ssl.
            query["ssl"] = query.pop("sslmode")
        return parsed.set(drivername="postgresql+asyncpg", query=query)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ConfigError(
        f"DATABASE_URL names the backend {backend!r}; only SQLite and PostgreSQL are supported."
    )


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


def create_engine_for(
    settings_or_url: Settings | str,
    *,
    prepared_statements: bool | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    echo: bool = False,
) -> AsyncEngine:
    """Make the async engine for a settings object or a URL.

    Args:
        settings_or_url: the service's settings (``DATABASE_URL``), or a URL.
        prepared_statements: override ``settings.database_prepared_statements``; ``False`` for a
            PostgreSQL transaction pooler (pgbouncer, Supabase's port 6543).
        pool_size: connections kept open on PostgreSQL.
        max_overflow: extra connections PostgreSQL may open under load.
        echo: log every statement.
    """
    if isinstance(settings_or_url, Settings):
        url = normalize_url(settings_or_url.database)
        if prepared_statements is None:
            prepared_statements = settings_or_url.database_prepared_statements
    else:
        url = normalize_url(settings_or_url)
    if prepared_statements is None:
        prepared_statements = True

    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_async_engine(
        url,
        echo=echo,
        # SQL parameters carry agent configs (secrets) and outputs: never in a log line.
        hide_parameters=True,
        **postgres_engine_options(
            prepared_statements=prepared_statements, pool_size=pool_size, max_overflow=max_overflow
        ),
    )


def postgres_engine_options(
    *, prepared_statements: bool, pool_size: int, max_overflow: int
) -> dict[str, Any]:
    """Keyword arguments of ``create_async_engine`` for PostgreSQL through asyncpg."""
    if prepared_statements:
        # Connections older than POOL_RECYCLE_S are replaced at checkout, before a server or
        # network idle timeout (pgbouncer, a cloud NAT) can have closed them under us.
        return {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_recycle": POOL_RECYCLE_S,
        }
    # As SQLAlchemy's asyncpg notes advise for pgbouncer in transaction mode: no statement
    # caches, unique statement names (a server connection is shared between clients), and no
    # pool of our own, so prepared statements never pile up on a server connection.
    return {
        "poolclass": NullPool,
        "connect_args": {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        },
    }


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    in_memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if in_memory:
        # Every connection to ":memory:" is a new empty database: share one.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        # As many connections as SQLAlchemy's default allows at once (5 + 10 overflow), all kept:
        # under load an overflow connection was closed on return and another opened (a thread,
        # its pragmas) a moment later, every 10 to 20 requests.
        kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=0)
    dbapi = one_trip_dbapi()
    if dbapi is not None:
        kwargs["module"] = dbapi
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode is None:  # a session of single statements, each its own transaction
            return
        # With the one-trip driver, BEGIN goes with the first statement, in its trip.
        if not begin_with_next_statement(conn.connection.dbapi_connection, mode):
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """The service's database: an async engine plus the session helpers everything else uses.

    Use :meth:`session` to read and :meth:`write` to change data::

        async with db.write() as session:
            await leases_repo.complete_case(session, result_id, owner, result)
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.backend = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.backend == "sqlite" else None
        database = engine.url.database if self.backend == "sqlite" else None
        # Processes sharing a SQLite file queue for its write lock in the kernel (file_lock.py).
        self._file_lock = (
            InterProcessLock(Path(f"{database}.lock"))
            if database not in (None, "", ":memory:")
            else None
        )
        # SQLite's reads keep their deferred transaction: a snapshot, and no round trip to save.
        self._read_engine = (
            engine
            if self.backend == "sqlite"
            else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._statement_engine = (
            engine.execution_options(**{SQLITE_BEGIN_OPTION: None})
            if self.backend == "sqlite"
            else self._read_engine
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Database:
        """A database for ``settings.database`` (see :func:`create_engine_for` for ``kwargs``)."""
        return cls(create_engine_for(settings, **kwargs))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        """A database for a URL (see :func:`create_engine_for` for ``kwargs``)."""
        return cls(create_engine_for(url, **kwargs))

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite."""
        return self.backend == "sqlite"

    @contextlib.asynccontextmanager
    async def session(self, *, snapshot: bool = True) -> AsyncIterator[AsyncSession]:
        """A session for reading: never write through it (on PostgreSQL it runs in autocommit).

        On SQLite its statements read one snapshot (a deferred transaction); ``snapshot=False``
        is for a session of one statement, which needs no ``BEGIN`` and no ``ROLLBACK`` (two
        trips to the driver's thread) to read a consistent state.
        """
        engine = self._read_engine if snapshot else self._statement_engine
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on an exception.

        On SQLite writers in this process take turns (one writer at a time is all SQLite allows),
        and the transaction starts ``IMMEDIATE`` so it holds the write lock from its first
        statement. Processes sharing the file take turns through :class:`InterProcessLock`
        first; anything else writing it is waited for up to the busy timeout.
        """
        if self._write_lock is None:
            async with (
                AsyncSession(self.engine, expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session
            return
        async with self._write_lock, self._hold_file_lock(), self.engine.connect() as conn:
            await conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def write_statement(self) -> AsyncIterator[AsyncSession]:
        """A session for a write of one statement, which is its own transaction.

        On PostgreSQL it runs in autocommit: the statement is one round trip, with no ``BEGIN``
        before it and no ``COMMIT`` after (a transaction of three statements is five trips, and
        under load each waits its turn on the event loop while holding its locks). On SQLite it
        is :meth:`write`, so a caller may still write more than one statement through it there.
        """
        if self._write_lock is not None:
            async with self.write() as session:
                yield session
            return
        async with AsyncSession(self._read_engine, expire_on_commit=False) as session:
            yield session

    def _hold_file_lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self._file_lock is None:
            return contextlib.nullcontext()
        return self._file_lock.hold()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "unreachable" to a health check
            return False
        return True

    def pool_status(self) -> dict[str, Any]:
        """``{"backend", "pool_size", "checked_out"}`` for metrics."""
        pool: Any = self.engine.pool
        size = pool.size() if hasattr(pool, "size") else 0
        checked_out = pool.checkedout() if hasattr(pool, "checkedout") else 0
        return {"backend": self.backend, "pool_size": size, "checked_out": checked_out}

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()
