"""Runs: creation with one pending result row per case, status transitions, cancel and resume.

A batch's run and its pending rows are written in the caller's single transaction, in bulk chunks,
so a 202 is only answered for a run whose every case is safely stored. The counters on the run row
change in the same transaction as each finished result, and a run is completed once no case is
left (see ``leases_repo``), so status polling reads one row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Table,
    and_,
    bindparam,
    func,
    insert,
    null,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import TestCase
from aifactory.domain.paging import Page
from aifactory.domain.runs import (
    ACTIVE,
    RUN_STATUSES,
    TERMINAL,
    NewRun,
    Run,
    RunProgress,
    RunStatus,
)
from aifactory.errors import NotFound
from aifactory.store import counts_repo, labels_repo
from aifactory.store._bulk import case_to_json, chunked, rowcount, tags_column
from aifactory.store.tables import Agent, Result, UTCDateTime, utcnow
from aifactory.store.tables import Run as RunRow

_results = cast(Table, Result.__table__)
_runs = cast(Table, RunRow.__table__)
# Every column of a run, named as RunRow's attributes (``metadata_``), so run_record reads either.
_RUN_COLUMNS = tuple(
    _runs.c[attr.columns[0].name].label(attr.key) for attr in RunRow.__mapper__.column_attrs
)
# Built once: a select built per call costs more CPU than SQLite takes to answer it.
_RUN_BY_ID = select(*_RUN_COLUMNS).where(_runs.c.id == bindparam("run_id"))
_RUN_BY_ID_LABELED = _RUN_BY_ID.add_columns(
    labels_repo.has_result_labels(_runs.c.id).label("labeled")
)


def run_record(run: Any) -> Run:
    """The record of a run row (an ORM ``RunRow``, or a row of ``_RUN_COLUMNS``)."""
    return Run(
        id=run.id,
        agent_id=run.agent_id,
        agent_version=run.agent_version,
        suite_id=run.suite_id,
        suite_version=run.suite_version,
        name=run.name,
        status=RunStatus(run.status),
        total=run.total,
        completed=run.completed,
        passed=run.passed,
        failed=run.failed,
        errored=run.errored,
        cancelled=run.cancelled,
        repeat=run.repeat,
        concurrency=run.concurrency,
        metadata=dict(run.metadata_ or {}),
        summary=run.summary,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def new_run_values(run: NewRun, run_id: str, now: datetime) -> dict[str, Any]:
    """The columns a new run row takes from what its caller said about it."""
    return {
        "id": run_id,
        "agent_id": run.agent_id,
        "agent_version": run.agent_version,
        "suite_id": run.suite_id,
        "suite_version": run.suite_version,
        "name": run.name,
        "concurrency": run.concurrency,
        "metadata_": dict(run.metadata),
        "api_key_id": run.api_key_id,
        "created_at": now,
    }


_INSERT_RUN = insert(_runs)
_SET_TOTAL = update(_runs).where(_runs.c.id == bindparam("run")).values(total=bindparam("total"))
_agents_table = cast(Table, Agent.__table__)
_LIVE_AGENT = select(_agents_table.c.id).where(
    _agents_table.c.id == bindparam("agent"), _agents_table.c.deleted_at.is_(None)
)


def core_run_values(values: dict[str, Any]) -> dict[str, Any]:
    """:func:`new_run_values` keyed by column, for a Core insert into the runs table."""
    values["metadata"] = values.pop("metadata_")
    return values


async def create_run_with_pending_results(
    session: AsyncSession,
    run: NewRun,
    cases: Iterable[TestCase] | AsyncIterable[TestCase],
) -> Run:
    """Create a queued run and one pending result per case and repeat, in bulk.

    ``cases`` may be any (async) iterable, e.g. ``suites_repo.iter_suite_cases``: it is consumed in
    chunks, so memory stays bounded for 100,000 cases. Everything happens in the caller's
    transaction: commit it to make the run visible whole.

    Raises:
        NotFound: the agent does not exist (or was deleted).
        ValueError: ``repeat`` is below 1.
    """
    if run.repeat < 1:
        raise ValueError("A run's repeat must be at least 1.")
    if (await session.execute(_LIVE_AGENT, {"agent": run.agent_id})).first() is None:
        raise NotFound("agent", run.agent_id)
    run_id = run.id or str(uuid.uuid4())
    now = utcnow()
    values = new_run_values(run, run_id, now)
    counters = {
        "status": RunStatus.QUEUED.value,
        "total": 0,
        "completed": 0,
        "passed": 0,
        "failed": 0,
        "errored": 0,
        "cancelled": 0,
        "repeat": run.repeat,
    }
    # Statements built once, values as parameters: compiled once per process.
    await session.execute(_INSERT_RUN, core_run_values(dict(values)) | counters)

    total = 0
    case_index = 0
    insert_rows = (
        _unnest_insert if session.get_bind().dialect.name == "postgresql" else _bulk_insert
    )
    async for chunk in chunked(cases):
        pending = _Pending()
        for case in chunk:
            data, tags = case_to_json(case), tags_column(case)
            for repeat_index in range(run.repeat):
                pending.add(case_index, repeat_index, data, tags)
            case_index += 1
        await insert_rows(session, run, run_id, now, pending)
        total += len(pending.ids)
    if total:
        await session.execute(_SET_TOTAL, {"run": run_id, "total": total})
    counters["total"] = total
    return run_record(
        SimpleNamespace(
            **values,
            **counters,
            summary=None,
            error=None,
            started_at=None,
            finished_at=None,
        )
    )


class _Pending:
    """A chunk of pending rows, column by column."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.case_indexes: list[int] = []
        self.repeat_indexes: list[int] = []
        self.test_cases: list[dict[str, Any]] = []
        self.tags: list[str] = []

    def add(self, case_index: int, repeat_index: int, data: dict[str, Any], tags: str) -> None:
        self.ids.append(str(uuid.uuid4()))
        self.case_indexes.append(case_index)
        self.repeat_indexes.append(repeat_index)
        self.test_cases.append(data)
        self.tags.append(tags)


async def _bulk_insert(
    session: AsyncSession, run: NewRun, run_id: str, now: datetime, pending: _Pending
) -> None:
    rows = [
        {
            "id": result_id,
            "run_id": run_id,
            "agent_id": run.agent_id,
            "agent_version": run.agent_version,
            "case_index": case_index,
            "repeat_index": repeat_index,
            "test_case": data,
            "tags": tags,
            "status": "pending",
            "cached": False,
            "attempts": 0,
            "created_at": now,
        }
        for result_id, case_index, repeat_index, data, tags in zip(
            pending.ids,
            pending.case_indexes,
            pending.repeat_indexes,
            pending.test_cases,
            pending.tags,
            strict=True,
        )
    ]
    await session.execute(insert(_results), rows)


_UNNEST_INSERT = text(
    """
    INSERT INTO results (id, run_id, agent_id, agent_version, case_index, repeat_index,
                         test_case, tags, status, cached, attempts, created_at)
    SELECT u.id, :run_id, :agent_id, :agent_version, u.case_index, u.repeat_index,
           u.test_case::jsonb, u.tags, 'pending', false, 0, :now
    FROM unnest(CAST(:ids AS text[]), CAST(:case_indexes AS integer[]),
                CAST(:repeat_indexes AS integer[]), CAST(:test_cases AS text[]),
                CAST(:tags AS text[])) AS u(id, case_index, repeat_index, test_case, tags)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


async def _unnest_insert(
    session: AsyncSession, run: NewRun, run_id: str, now: datetime, pending: _Pending
) -> None:
    # One statement whose parameters are whole columns: PostgreSQL parses and plans it once per
    # chunk instead of once per row, several times faster than executemany, and unlike COPY it
    # needs no named prepared statement, so it works behind a transaction pooler too.
    encoded: dict[int, str] = {}
    test_cases = []
    for data in pending.test_cases:
        # Repeats share one dict: encode it once.
        text_form = encoded.get(id(data))
        if text_form is None:
            text_form = encoded[id(data)] = json.dumps(data, separators=(",", ":"))
        test_cases.append(text_form)
    await session.execute(
        _UNNEST_INSERT,
        {
            "run_id": run_id,
            "agent_id": run.agent_id,
            "agent_version": run.agent_version,
            "now": now,
            "ids": pending.ids,
            "case_indexes": pending.case_indexes,
            "repeat_indexes": pending.repeat_indexes,
            "test_cases": test_cases,
            "tags": pending.tags,
        },
    )


async def _run(session: AsyncSession, run_id: str) -> RunRow:
    run = await session.get(RunRow, run_id, populate_existing=True)
    if run is None:
        raise NotFound("run", run_id)
    return run


async def get_run(session: AsyncSession, run_id: str, *, review: bool = False) -> Run:
    """The run with its counters; with ``review``, and its review once it has ended and has
    labels (:func:`labels_repo.with_run_review`, skipped for a run nobody labeled).

    Raises:
        NotFound: no such run.
    """
    statement = _RUN_BY_ID_LABELED if review else _RUN_BY_ID
    row = (await session.execute(statement, {"run_id": run_id})).first()
    if row is None:
        raise NotFound("run", run_id)
    record = run_record(row)
    if review:
        return await labels_repo.with_run_review(session, record, labeled=bool(row.labeled))
    return record


async def list_runs(
    session: AsyncSession,
    *,
    agent_id: str | None = None,
    status: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Run]:
    """Runs, newest first, optionally of one agent, in one status, or whose id starts so."""
    conditions = []
    if agent_id is not None:
        conditions.append(RunRow.agent_id == agent_id)
    if status is not None:
        conditions.append(RunRow.status == status)
    if id_prefix:
        conditions.append(RunRow.id.startswith(id_prefix, autoescape=True))
    where = and_(true(), *conditions)
    total = (
        await session.execute(select(func.count()).select_from(RunRow).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(RunRow)
        .where(where)
        .order_by(RunRow.created_at.desc(), RunRow.id)
        .limit(limit)
        .offset(offset)
    )
    items = [run_record(r) for r in rows.scalars()]
    return Page(items=items, total=total, limit=limit, offset=offset)


async def mark_running(session: AsyncSession, run_id: str) -> bool:
    """Move a queued run to ``running`` and stamp ``started_at``; False if it was not queued."""
    result = await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RunStatus.QUEUED.value)
        .values(status=RunStatus.RUNNING.value, started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def set_run_status(
    session: AsyncSession,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    summary: dict[str, Any] | None = None,
) -> bool:
    """Move an active run to ``status``; a finished run never changes again.

    Returns:
        Whether the run changed (False when it had already finished).

    Raises:
        ValueError: ``status`` is not a run status.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"Run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}.")
    now = utcnow()
    values: dict[str, Any] = {"status": status}
    if status in TERMINAL:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    if summary is not None:
        values["summary"] = summary
    if status != RunStatus.QUEUED:
        values["started_at"] = func.coalesce(RunRow.started_at, now)
    result = await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status.in_(ACTIVE))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def set_summary(session: AsyncSession, run_id: str, summary: dict[str, Any]) -> None:
    """Store the run's summary (aggregates the engine computes when it finishes)."""
    await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(summary=summary)
        .execution_options(synchronize_session=False)
    )


async def request_cancel(session: AsyncSession, run_id: str) -> bool:
    """Cancel the run: its pending and in-flight cases become ``cancelled`` in one statement.

    A worker still running a cancelled case finds out when ``complete_case`` answers False, and
    nothing it finishes is recorded.

    Returns:
        Whether the run was active and is now cancelled.

    Raises:
        NotFound: no such run.
    """
    run = await _run(session, run_id)
    if run.status not in ACTIVE:
        return False
    now = utcnow()
    result = await session.execute(
        update(_results)
        .where(_results.c.run_id == run_id, _results.c.status.in_(("pending", "running")))
        .values(status="cancelled", lease_owner=None, lease_expires_at=None)
    )
    cancelled = rowcount(result)
    changed = await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status.in_(ACTIVE))
        .values(
            status=RunStatus.CANCELLED.value,
            finished_at=now,
            cancelled=RunRow.cancelled + cancelled,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(changed) == 1


_IN_FLIGHT = (
    select(_runs.c.id, _runs.c.status, _runs.c.total, _runs.c.completed, _runs.c.cancelled)
    .where(_runs.c.status.in_(sorted(status.value for status in ACTIVE)))
    .order_by(_runs.c.created_at, _runs.c.id)
    .limit(bindparam("limit", type_=Integer))
)


async def runs_in_flight(session: AsyncSession, *, limit: int = 1000) -> list[RunProgress]:
    """Queued and running runs, oldest first: what a restarted service resumes.

    Five columns as tuples, not whole runs: the batch runner reads this every 0.2 s, and with a
    backlog of a thousand queued runs, loading them as ORM rows was a quarter of its CPU.
    """
    rows = await session.execute(_IN_FLIGHT, {"limit": limit})
    return [RunProgress(*row) for row in rows]


_LIVENESS = (
    select(_runs.c.id, _runs.c.status, _runs.c.agent_id, _agents_table.c.deleted_at.is_(None))
    .join(_agents_table, _agents_table.c.id == _runs.c.agent_id, isouter=True)
    .where(_runs.c.id.in_(bindparam("ids", expanding=True)))
)


async def run_liveness(
    session: AsyncSession, run_ids: list[str]
) -> dict[str, tuple[str, str, bool]]:
    """Each found run's ``(status, agent_id, whether its agent is live)``, in one statement.

    What a batch worker polls for the runs it is working on, every second or so.
    """
    if not run_ids:
        return {}
    rows = await session.execute(_LIVENESS, {"ids": run_ids})
    return {row[0]: (row[1], row[2], bool(row[3])) for row in rows}


async def run_status_counts(session: AsyncSession) -> dict[str, int]:
    """How many runs are in each status (every status present, zero when none)."""
    rows = await session.execute(select(RunRow.status, func.count()).group_by(RunRow.status))
    counts = dict.fromkeys(RUN_STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


# Runs by status, then (status NULL: no run has one) the finished results of every agent.
_RUN_COUNTS = (
    select(_runs.c.status, func.count())
    .group_by(_runs.c.status)
    .union_all(select(null(), counts_repo.ALL_AGENTS_TOTAL.scalar_subquery()))
)


async def run_counts(session: AsyncSession) -> tuple[dict[str, int], int]:
    """:func:`run_status_counts` and :func:`cases_executed_total` in one statement."""
    counts = dict.fromkeys(RUN_STATUSES, 0)
    executed = 0
    for status, n in await session.execute(_RUN_COUNTS):
        if status is None:
            executed = int(n)
        else:
            counts[status] = int(n)
    return counts, executed


async def cases_executed_total(session: AsyncSession) -> int:
    """Finished results over every agent, from the per-agent counts (no scan of results)."""
    total = (await session.execute(counts_repo.ALL_AGENTS_TOTAL)).scalar_one()
    return int(total or 0)
