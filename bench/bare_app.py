"""The yardsticks: a bare FastAPI app, with nothing of ours, for the HTTP benchmarks.

``GET /health`` answers a small JSON (``bench/api_health.py``). With ``BARE_DATABASE_URL`` set the
app also keeps one table through SQLAlchemy's async engine, as the service does (aiosqlite in WAL
mode, or asyncpg): ``GET /rows/{id}`` reads a row by its key in a session and ``POST /rows``
inserts one in a transaction (``bench/stack_floor.py``).

.venv/bin/uvicorn bare_app:app --app-dir bench --workers 2
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import String, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "bare_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    output: Mapped[str] = mapped_column(String(2000))


class RowIn(BaseModel):
    name: str
    output: str


class RowOut(RowIn):
    id: int


def _engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


DATABASE_URL = os.environ.get("BARE_DATABASE_URL")
engine = _engine(DATABASE_URL) if DATABASE_URL else None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    if engine is not None:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    yield
    if engine is not None:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    """A small JSON answer, as small as a health check gets."""
    return {"status": "ok"}


@app.get("/rows/{row_id}")
async def read_row(row_id: int) -> RowOut:
    """One row by its primary key."""
    assert engine is not None
    async with AsyncSession(engine) as session:
        row = await session.get(Row, row_id)
        if row is None:
            raise HTTPException(404)
        return RowOut(id=row.id, name=row.name, output=row.output)


@app.post("/rows", status_code=201)
async def create_row(body: RowIn) -> RowOut:
    """One row inserted and committed."""
    assert engine is not None
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        row = Row(name=body.name, output=body.output)
        session.add(row)
    return RowOut(id=row.id, name=row.name, output=row.output)
