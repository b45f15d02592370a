"""Suites: named sets of test cases, stored one row per case so 100,000-case suites stay cheap.

Replacing a suite's cases makes a new version; runs record the version they ran. Cases are written
in bulk chunks and read back in chunks, so neither side holds a whole suite in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import TestCase
from aifactory.domain.paging import Page
from aifactory.domain.records import SuiteRecord
from aifactory.errors import Conflict, NotFound
from aifactory.store._bulk import CHUNK_SIZE, case_from_json, case_to_json, chunked
from aifactory.store.tables import Suite, SuiteCase, utcnow

Cases = Iterable[TestCase] | AsyncIterable[TestCase]


def _record(suite: Suite) -> SuiteRecord:
    return SuiteRecord(
        id=suite.id,
        name=suite.name,
        description=suite.description,
        version=suite.current_version,
        case_count=suite.case_count,
        metadata=dict(suite.metadata_ or {}),
        created_at=suite.created_at,
        updated_at=suite.updated_at,
    )


async def _suite(session: AsyncSession, suite_id: str) -> Suite:
    suite = await session.get(Suite, suite_id)
    if suite is None:
        raise NotFound("suite", suite_id)
    return suite


async def _insert_cases(session: AsyncSession, suite_id: str, version: int, cases: Cases) -> int:
    count = 0
    async for chunk in chunked(cases):
        rows = [
            {
                "suite_id": suite_id,
                "version": version,
                "case_index": count + i,
                "test_case": case_to_json(case),
            }
            for i, case in enumerate(chunk)
        ]
        await session.execute(insert(SuiteCase), rows)
        count += len(rows)
    return count


async def create_suite(
    session: AsyncSession,
    *,
    name: str,
    cases: Cases,
    id: str | None = None,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> SuiteRecord:
    """Store a suite and its cases (version 1) in the caller's transaction.

    Raises:
        Conflict: the id is taken.
    """
    suite_id = id or f"suite-{uuid.uuid4().hex[:12]}"
    if await session.get(Suite, suite_id) is not None:
        raise Conflict(f"A suite with id {suite_id!r} already exists; choose another id.")
    now = utcnow()
    suite = Suite(
        id=suite_id,
        name=name,
        description=description,
        current_version=1,
        case_count=0,
        metadata_=metadata or {},
        created_at=now,
        updated_at=now,
    )
    session.add(suite)
    await session.flush()
    suite.case_count = await _insert_cases(session, suite_id, 1, cases)
    await session.flush()
    return _record(suite)


async def replace_cases(
    session: AsyncSession,
    suite_id: str,
    cases: Cases,
    *,
    name: str | None = None,
    description: str | None = None,
) -> SuiteRecord:
    """Give the suite a new version with ``cases``; earlier versions stay for their runs.

    Raises:
        NotFound: no such suite.
    """
    suite = await _suite(session, suite_id)
    version = suite.current_version + 1
    suite.case_count = await _insert_cases(session, suite_id, version, cases)
    suite.current_version = version
    if name is not None:
        suite.name = name
    if description is not None:
        suite.description = description
    suite.updated_at = utcnow()
    await session.flush()
    return _record(suite)


async def get_suite(session: AsyncSession, suite_id: str) -> SuiteRecord:
    """The suite without its cases.

    Raises:
        NotFound: no such suite.
    """
    return _record(await _suite(session, suite_id))


async def list_suites(
    session: AsyncSession, *, limit: int = 50, offset: int = 0
) -> Page[SuiteRecord]:
    """Suites, newest first."""
    total = (await session.execute(select(func.count()).select_from(Suite))).scalar_one()
    rows = await session.execute(
        select(Suite).order_by(Suite.created_at.desc(), Suite.id).limit(limit).offset(offset)
    )
    return Page(items=[_record(s) for s in rows.scalars()], total=total, limit=limit, offset=offset)


async def delete_suite(session: AsyncSession, suite_id: str) -> None:
    """Delete the suite and every version of its cases (runs keep their own copies).

    Raises:
        NotFound: no such suite.
    """
    await _suite(session, suite_id)
    await session.execute(delete(SuiteCase).where(SuiteCase.suite_id == suite_id))
    await session.execute(delete(Suite).where(Suite.id == suite_id))


async def iter_cases(
    session: AsyncSession,
    suite_id: str,
    *,
    version: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[list[TestCase]]:
    """The suite's cases in order, ``chunk_size`` at a time (the current version by default).

    Each chunk is read by its own keyset query, so memory stays bounded whatever the suite's size
    and the session can write between chunks.

    Raises:
        NotFound: no such suite (raised on first iteration).
    """
    suite = await _suite(session, suite_id)
    number = suite.current_version if version is None else version
    after = -1
    while True:
        rows = await session.execute(
            select(SuiteCase.case_index, SuiteCase.test_case)
            .where(
                SuiteCase.suite_id == suite_id,
                SuiteCase.version == number,
                SuiteCase.case_index > after,
            )
            .order_by(SuiteCase.case_index)
            .limit(chunk_size)
        )
        batch = rows.all()
        if not batch:
            return
        after = batch[-1][0]
        yield [case_from_json(data) for _, data in batch]
        if len(batch) < chunk_size:
            return


async def iter_suite_cases(
    session: AsyncSession, suite_id: str, *, version: int | None = None
) -> AsyncIterator[TestCase]:
    """The suite's cases one at a time, read in chunks underneath."""
    async for chunk in iter_cases(session, suite_id, version=version):
        for case in chunk:
            yield case
