"""aiosqlite with one trip to its thread per statement, for SQLAlchemy's ``sqlite+aiosqlite``.

aiosqlite runs each SQLite call on a thread of its own, and every call is a trip there and back
(a queue put, a thread wake-up, a loop wake-up): tens of microseconds of CPU each. SQLAlchemy's
stock adapter makes four per statement (open a cursor, execute, fetch, close) and the pool rolls
a connection back on return even when the session just did. Here a statement is one trip (the
cursor is opened, executed, read and closed on the thread in one function), a ``BEGIN`` given to
:meth:`OneTripConnection.begin` goes with the transaction's first statement, and a rollback or
commit outside a transaction is none: a read of two statements in a transaction costs three
trips, not eleven.

Passed to ``create_async_engine`` as ``module=`` (the engine's URL and dialect stay
``sqlite+aiosqlite``); it builds on SQLAlchemy 2.1's asyncio adapter classes, and
:func:`one_trip_dbapi` answers None on a SQLAlchemy without them (the stock adapter is used).
Like SQLAlchemy's own aiosqlite adapter, it reaches into aiosqlite's connection: for its
thread's queue (``_execute``) and its ``sqlite3`` connection (``_conn``, ``_connection``).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

try:
    from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
    from sqlalchemy.dialects.sqlite.aiosqlite import (
        AsyncAdapt_aiosqlite_connection,
        AsyncAdapt_aiosqlite_cursor,
        AsyncAdapt_aiosqlite_dbapi,
    )
    from sqlalchemy.util import EMPTY_DICT
    from sqlalchemy.util.concurrency import await_
except ImportError:  # SQLAlchemy 2.0: its aiosqlite adapter is built differently
    AsyncAdapt_dbapi_cursor = None  # type: ignore[assignment,misc]


Row = tuple[Any, ...]
Outcome = tuple[Any, list[Row], int, int | None]
"""What a statement leaves: description, rows, rowcount, lastrowid."""


def _run(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None
) -> Outcome:
    """On aiosqlite's thread: execute one statement and read everything it left, then close;
    ``begin`` (``BEGIN DEFERRED``, say) first when a transaction waits to start."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


if AsyncAdapt_dbapi_cursor is not None:

    class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
        """A cursor whose statement runs, is read and closed in one trip to the thread."""

        __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

        def __init__(self, adapt_connection: Any) -> None:
            # No aiosqlite cursor is opened here (a trip): each statement opens its own there.
            self._adapt_connection = adapt_connection
            self._connection = adapt_connection._connection
            self._cursor = None  # type: ignore[assignment]
            self._soft_closed_memoized = EMPTY_DICT
            self._rows: collections.deque[Row] = collections.deque()
            self._description: Any = None
            self._rowcount = -1
            self._lastrowid: int | None = None
            self._arraysize = 1

        @property
        def arraysize(self) -> int:
            return self._arraysize

        @arraysize.setter
        def arraysize(self, value: int) -> None:
            self._arraysize = value

        @property
        def description(self) -> Any:
            return self._description

        @property
        def rowcount(self) -> int:
            return self._rowcount

        @property
        def lastrowid(self) -> int:
            return self._lastrowid  # type: ignore[return-value]

        async def _async_soft_close(self) -> None:
            return None

        def close(self) -> None:
            self._rows.clear()

        def execute(self, operation: Any, parameters: Any = None) -> Any:
            return self._trip(operation, parameters, many=False)

        def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
            return self._trip(operation, seq_of_parameters, many=True)

        def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
            try:
                outcome = await_(self._execute_async_one(operation, parameters, many))
            except Exception as error:
                self._adapt_connection._handle_exception(error)
            self._description, rows, self._rowcount, self._lastrowid = outcome
            self._rows = collections.deque(rows)

        async def _execute_async_one(self, operation: Any, parameters: Any, many: bool) -> Outcome:
            adapt = cast("OneTripConnection", self._adapt_connection)
            connection = self._connection
            async with adapt._execute_mutex:
                begin, adapt._pending_begin = adapt._pending_begin, None
                outcome: Outcome = await connection._execute(
                    _run, connection._conn, operation, parameters, many, begin
                )
                return outcome

        def nextset(self) -> None:
            return None

        def setinputsizes(self, *inputsizes: Any) -> None:
            return None

        def fetchall(self) -> Sequence[Any]:
            rows = list(self._rows)
            self._rows.clear()
            return rows

    class OneTripConnection(AsyncAdapt_aiosqlite_connection):
        """aiosqlite's connection with one-trip cursors, a ``BEGIN`` that travels with the
        transaction's first statement, and no trip to end no transaction."""

        __slots__ = ("_pending_begin",)
        _cursor_cls = OneTripCursor

        def __init__(self, dbapi: Any, connection: Any) -> None:
            super().__init__(dbapi, connection)
            self._pending_begin: str | None = None

        def begin(self, mode: str) -> None:
            """Start a transaction (``DEFERRED``, ``IMMEDIATE``) with the next statement.

            A transaction that runs no statement never starts, and costs no trip.
            """
            self._pending_begin = f"BEGIN {mode}"

        def cursor(self, server_side: bool = False) -> Any:
            if server_side and self._pending_begin is not None:
                # A streaming cursor runs on aiosqlite's own cursor: BEGIN goes first, alone.
                begin, self._pending_begin = self._pending_begin, None
                await_(
                    self._connection._execute(
                        _run, self._connection._conn, begin, None, False, None
                    )
                )
            return super().cursor(server_side)

        def _in_transaction(self) -> bool:
            raw = self._connection._connection
            # ``in_transaction`` reads SQLite's autocommit flag, safe from any thread.
            return raw is not None and raw.in_transaction

        def rollback(self) -> None:
            self._pending_begin = None
            if self._in_transaction():
                super().rollback()

        def commit(self) -> None:
            self._pending_begin = None
            if self._in_transaction():
                super().commit()

    class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
        """SQLAlchemy's aiosqlite DBAPI adapter, handing out :class:`OneTripConnection`."""

        def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
            stock = super().connect(*arg, **kw)
            return OneTripConnection(self, stock._connection)


def begin_with_next_statement(dbapi_connection: Any, mode: str) -> bool:
    """Have a one-trip connection start its transaction with its next statement; False for
    any other connection (the caller sends ``BEGIN`` itself)."""
    if AsyncAdapt_dbapi_cursor is None or not isinstance(dbapi_connection, OneTripConnection):
        return False
    dbapi_connection.begin(mode)
    return True


def one_trip_dbapi() -> Any:
    """The DBAPI module to pass as ``module=`` for ``sqlite+aiosqlite``, or None (stock)."""
    if AsyncAdapt_dbapi_cursor is None:
        return None
    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
