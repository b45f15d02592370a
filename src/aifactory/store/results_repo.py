"""Results: a finished case's row, written from a ``TestResult`` and read back as one.

Pending rows are made with their run (``runs_repo``); claiming and completing them under a lease
is ``leases_repo``'s. Here: the columns a finished result writes (:func:`outcome_values`), the
single synchronous result stored with its one-case run (:func:`record_result`), and every read of
finished results (one, a run's by status and tag, a run's in chunks, an agent's newest first).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from aifactory.domain.models import TestResult
from aifactory.domain.paging import Page
from aifactory.domain.review import uncertainty
from aifactory.domain.runs import NewRun, Run
from aifactory.errors import NotFound
from aifactory.store import counts_repo, labels_repo
from aifactory.store._bulk import case_to_json, like_tag, tags_column
from aifactory.store.runs_repo import core_run_values, get_run, new_run_values
from aifactory.store.tables import FINISHED_STATUSES, Agent, Result, utcnow
from aifactory.store.tables import Run as RunRow

_results = cast(Table, Result.__table__)
_r = _results.c
_RESULT_COLUMNS = (
    _r.id,
    _r.run_id,
    _r.agent_id,
    _r.agent_version,
    _r.case_index,
    _r.repeat_index,
    _r.test_case,
    _r.status,
    _r.passed,
    _r.score,
    _r.feedback,
    _r.output,
    _r.checks,
    _r.tool_calls,
    _r.latency_ms,
    _r.input_tokens,
    _r.output_tokens,
    _r.cost_usd,
    _r.judge_input_tokens,
    _r.judge_output_tokens,
    _r.judge_cost_usd,
    _r.error,
    _r.cached,
    _r.finished_at,
    _r.transcript,
    _r.turns,
    _r.stop_reason,
    _r.simulator_input_tokens,
    _r.simulator_output_tokens,
    _r.simulator_cost_usd,
)
_WIDTH = len(_RESULT_COLUMNS)
_agents = cast(Table, Agent.__table__)
_INSERT_RUN = insert(cast(Table, RunRow.__table__))
_INSERT_RESULT = insert(_results)

# The pages the API reads most, built once (a select built per call costs more CPU than SQLite
# takes to answer it), each row with whether it has labels so only labeled ones are looked up.
_LABELED = labels_repo.has_labels(_r.id).label("labeled")
_RUN_PAGE = (
    select(*_RESULT_COLUMNS, _LABELED)
    .where(_r.run_id == bindparam("run_id"), _r.status.in_(FINISHED_STATUSES))
    .order_by(_r.case_index, _r.repeat_index)
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
)
_RUN_PAGE_OF_STATUS = (
    select(*_RESULT_COLUMNS, _LABELED)
    .where(_r.run_id == bindparam("run_id"), _r.status == bindparam("status"))
    .order_by(_r.case_index, _r.repeat_index)
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
)
_AGENT_RESULTS_COUNT = select(counts_repo.agent_total(_agents.c.id).label("results_count")).where(
    _agents.c.id == bindparam("agent_id")
)
# The agent's count rides along each row (SQLite and PostgreSQL read it once): one statement.
_AGENT_PAGE = (
    select(
        *_RESULT_COLUMNS,
        _LABELED,
        counts_repo.agent_total(bindparam("agent_id")).label("total"),
    )
    .where(_r.agent_id == bindparam("agent_id"), _r.finished_at.is_not(None))
    .order_by(_r.finished_at.desc(), _r.id.desc())
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
)


def _no_nul(value: Any) -> Any:
    """``value`` without NUL characters, which PostgreSQL text and JSONB cannot hold.

    Agent output is arbitrary text; a NUL becomes U+FFFD so the result is stored, not lost.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    return value


def _transcript_json(result: TestResult) -> list[Any] | None:
    if result.transcript is None:
        return None
    entries = [entry.model_dump(mode="json", exclude_none=True) for entry in result.transcript]
    return [_no_nul(entry) for entry in entries]


def outcome_values(result: TestResult, now: datetime) -> dict[str, Any]:
    """The columns a finished result sets on its row, finished at ``now``, its lease cleared.

    ``judge_uncertain`` is decided here, once: the uncertain review queue reads it by index.
    """
    simulator = result.simulator_usage
    conversation = result.transcript is not None
    return {
        "status": result.status,
        "passed": result.passed,
        "score": result.score,
        "feedback": _no_nul(result.feedback),
        "output": _no_nul(result.output),
        "checks": _no_nul([c.model_dump(mode="json", exclude_none=True) for c in result.checks]),
        "tool_calls": _no_nul([t.model_dump(mode="json") for t in result.tool_calls]),
        "latency_ms": result.latency_ms,
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cost_usd": result.usage.cost_usd,
        "judge_input_tokens": result.judge_usage.input_tokens,
        "judge_output_tokens": result.judge_usage.output_tokens,
        "judge_cost_usd": result.judge_usage.cost_usd,
        "error": _no_nul(result.error),
        "cached": result.cached,
        "transcript": _transcript_json(result),
        "turns": result.turns,
        "stop_reason": result.stop_reason,
        "simulator_input_tokens": simulator.input_tokens if conversation else None,
        "simulator_output_tokens": simulator.output_tokens if conversation else None,
        "simulator_cost_usd": simulator.cost_usd if conversation else None,
        "judge_uncertain": uncertainty(result) is not None,
        "finished_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }


async def record_result(session: AsyncSession, run: NewRun, result: TestResult) -> TestResult:
    """Store a single synchronous result as a finished one-case run; returns it with its ids.

    The hot path of ``POST /test/run``: the finished run and its result row are inserted
    directly (no pending row, claim and completion), and one of the agent's count rows
    (:mod:`aifactory.store.counts_repo`) is added to last, so its lock is held briefly. On
    PostgreSQL the three are one statement, which is atomic in itself: give it a session of
    :meth:`Database.write_statement` and it is one round trip.

    Raises:
        NotFound: the agent does not exist.
    """
    now = utcnow()
    run_id = run.id or str(uuid.uuid4())
    result_id = str(uuid.uuid4())
    counters = {"passed": 0, "failed": 0, "errored": 0}
    counters["errored" if result.status == "error" else result.status] = 1
    run_row = core_run_values(new_run_values(run, run_id, now))
    run_row.update(
        status="completed",
        total=1,
        completed=1,
        cancelled=0,
        repeat=1,
        started_at=now,
        finished_at=now,
        **counters,
    )
    # Statements built once and given their values as parameters: compiled once per process,
    # where .values(...) would coerce every value and key the cache on it at each request.
    result_row = outcome_values(result, now)
    result_row.update(
        id=result_id,
        run_id=run_id,
        agent_id=run.agent_id,
        agent_version=run.agent_version,
        case_index=0,
        repeat_index=0,
        test_case=_no_nul(case_to_json(result.test_case)),
        tags=tags_column(result.test_case),
        attempts=1,
        created_at=now,
    )
    if session.get_bind().dialect.name == "postgresql":
        await _record_at_once(session, run.agent_id, run_row, result_row)
    else:
        await session.execute(_INSERT_RUN, run_row)
        await session.execute(_INSERT_RESULT, result_row)
        if not await counts_repo.add(session, {run.agent_id: 1}):
            # Deleted (or never stored) since the caller read it: the transaction rolls back.
            raise NotFound("agent", run.agent_id)
    return result.model_copy(
        update={
            "id": result_id,
            "run_id": run_id,
            "agent_id": run.agent_id,
            "agent_version": run.agent_version,
            "case_index": 0,
            "repeat_index": 0,
            "created_at": now,
        }
    )


@functools.cache
def _record_statement(run_columns: tuple[str, ...], result_columns: tuple[str, ...]) -> Executable:
    """The run, its result and the agent's count in one PostgreSQL statement, built once.

    ``WITH live AS (the agent, unless deleted), run AS (INSERT INTO runs SELECT ... FROM live),
    result AS (INSERT INTO results SELECT ... FROM live) INSERT INTO agent_result_counts SELECT
    ... FROM live ON CONFLICT ... RETURNING agent_id``: nothing is written for a deleted agent,
    and in autocommit (:meth:`Database.write_statement`) it is one round trip where a
    transaction of three statements is five.
    """
    live = (
        select(_agents.c.id)
        .where(_agents.c.id == bindparam("agent"), _agents.c.deleted_at.is_(None))
        .cte("live")
    )
    runs_table = cast(Table, RunRow.__table__)

    def insert_from_live(table: Table, columns: tuple[str, ...], prefix: str) -> Any:
        values = select(
            *(bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns)
        ).select_from(live)
        return insert(table).from_select(columns, values).returning(table.c.id)

    statement: Executable = counts_repo.add_one_from(live.c.id).add_cte(
        insert_from_live(runs_table, run_columns, "run_").cte("new_run"),
        insert_from_live(_results, result_columns, "result_").cte("new_result"),
    )
    return statement


async def _record_at_once(
    session: AsyncSession, agent_id: str, run_row: dict[str, Any], result_row: dict[str, Any]
) -> None:
    statement = _record_statement(tuple(run_row), tuple(result_row))
    params = {f"run_{k}": v for k, v in run_row.items()}
    params.update({f"result_{k}": v for k, v in result_row.items()})
    params.update(agent=agent_id, shard=counts_repo.shard_for(session))
    if (await session.execute(statement, params)).first() is None:
        raise NotFound("agent", agent_id)


def _to_result(row: Any) -> TestResult:
    """The result of a row whose first columns are ``_RESULT_COLUMNS``."""
    # Unpacked by position: reading 30 columns by name costs more than validating the result.
    (
        result_id,
        run_id,
        agent_id,
        agent_version,
        case_index,
        repeat_index,
        test_case,
        status,
        passed,
        score,
        feedback,
        output,
        checks,
        tool_calls,
        latency_ms,
        input_tokens,
        output_tokens,
        cost_usd,
        judge_input_tokens,
        judge_output_tokens,
        judge_cost_usd,
        error,
        cached,
        finished_at,
        transcript,
        turns,
        stop_reason,
        simulator_input_tokens,
        simulator_output_tokens,
        simulator_cost_usd,
    ) = row[:_WIDTH]
    # One validation of the whole nested result (pydantic-core walks it in one call), not one
    # per nested model: reading results is the hot path of status, history and reports.
    return TestResult.model_validate(
        {
            "id": result_id,
            "run_id": run_id,
            "agent_id": agent_id,
            "agent_version": agent_version,
            "case_index": case_index,
            "repeat_index": repeat_index,
            "test_case": test_case,
            "status": status,
            "passed": bool(passed),
            "score": score or 0.0,
            "feedback": feedback or "",
            "output": output,
            "checks": checks or [],
            "tool_calls": tool_calls or [],
            "latency_ms": latency_ms,
            "usage": {
                "input_tokens": input_tokens or 0,
                "output_tokens": output_tokens or 0,
                "cost_usd": cost_usd,
            },
            "judge_usage": {
                "input_tokens": judge_input_tokens or 0,
                "output_tokens": judge_output_tokens or 0,
                "cost_usd": judge_cost_usd,
            },
            "error": error,
            "cached": bool(cached),
            "created_at": finished_at,
            "transcript": transcript,
            "turns": turns,
            "stop_reason": stop_reason,
            "simulator_usage": {
                "input_tokens": simulator_input_tokens or 0,
                "output_tokens": simulator_output_tokens or 0,
                "cost_usd": simulator_cost_usd,
            },
        }
    )


async def _page_items(
    session: AsyncSession, rows: Sequence[Any], *, reviews: bool
) -> list[TestResult]:
    """The results of a page's rows (``_RESULT_COLUMNS`` and ``labeled``); with ``reviews``,
    each labeled one gets its review (one query, and none when nobody labeled the page)."""
    items: list[TestResult] = []
    labeled: list[TestResult] = []
    for row in rows:
        result = _to_result(row)
        items.append(result)
        if row[_WIDTH]:
            labeled.append(result)
    if reviews and labeled:
        await labels_repo.with_reviews(session, labeled)
    return items


async def get_result(session: AsyncSession, result_id: str) -> TestResult:
    """One finished result.

    Raises:
        NotFound: no such result, or it has not finished.
    """
    row = (
        await session.execute(
            select(*_RESULT_COLUMNS).where(_r.id == result_id, _r.status.in_(FINISHED_STATUSES))
        )
    ).first()
    if row is None:
        raise NotFound("result", result_id)
    return _to_result(row)


async def list_run_results(
    session: AsyncSession,
    run_id: str,
    *,
    status: str | None = None,
    tag: str | None = None,
    limit: int = 50,
    offset: int = 0,
    run: Run | RunRow | None = None,
    reviews: bool = False,
) -> Page[TestResult]:
    """A run's finished results in case order, optionally of one status and/or tag.

    ``run``: the run, when the caller has just read it (its counters give the totals).
    ``reviews``: set each result's ``review`` from its labels (:func:`labels_repo.with_reviews`).

    Raises:
        NotFound: no such run.
        ValueError: ``status`` is not ``passed``, ``failed`` or ``error``.
    """
    if run is None:
        run = await get_run(session, run_id)
    if status is not None and status not in FINISHED_STATUSES:
        raise ValueError(f"status must be passed, failed or error, not {status!r}.")
    params: dict[str, Any] = {"run_id": run_id, "limit": limit, "offset": offset}
    if tag is not None:
        statuses = (status,) if status else FINISHED_STATUSES
        where = [
            _r.run_id == run_id,
            _r.status.in_(statuses),
            _r.tags.like(like_tag(tag), escape="\\"),
        ]
        total = (
            await session.execute(select(func.count()).select_from(Result).where(*where))
        ).scalar_one()
        statement = (
            select(*_RESULT_COLUMNS, _LABELED)
            .where(*where)
            .order_by(_r.case_index, _r.repeat_index)
            .limit(limit)
            .offset(offset)
        )
    else:
        # The run's counters already know these totals.
        total = {None: run.completed, "passed": run.passed, "failed": run.failed}.get(
            status, run.errored
        )
        statement = _RUN_PAGE if status is None else _RUN_PAGE_OF_STATUS
        params["status"] = status
    rows = (await session.execute(statement, params)).all()
    items = await _page_items(session, rows, reviews=reviews)
    return Page.of(items, total=total, limit=limit, offset=offset)


async def iter_run_results(
    session: AsyncSession, run_id: str, *, chunk_size: int = 1000
) -> AsyncIterator[list[TestResult]]:
    """Every finished result of a run in case order, a chunk at a time (reports, summaries)."""
    after = (-1, -1)
    while True:
        rows = (
            await session.execute(
                select(*_RESULT_COLUMNS)
                .where(
                    _r.run_id == run_id,
                    _r.status.in_(FINISHED_STATUSES),
                    tuple_(_r.case_index, _r.repeat_index) > after,
                )
                .order_by(_r.case_index, _r.repeat_index)
                .limit(chunk_size)
            )
        ).all()
        if not rows:
            return
        after = (rows[-1].case_index, rows[-1].repeat_index)
        yield [_to_result(r) for r in rows]
        if len(rows) < chunk_size:
            return


async def list_agent_results(
    session: AsyncSession,
    agent_id: str,
    *,
    limit: int = 10,
    offset: int = 0,
    reviews: bool = False,
) -> Page[TestResult]:
    """An agent's finished results over every version and run, newest first.

    Reads through the partial index ``(agent_id, finished_at DESC, id DESC)`` and takes the total
    from the agent's count rows, so the cost does not grow with the agent's history. One
    statement (the count is read with the page), and a second only for an empty page.
    ``reviews``: set each result's ``review`` from its labels (:func:`labels_repo.with_reviews`).

    Raises:
        NotFound: no such agent (deleted agents' history stays readable).
    """
    params = {"agent_id": agent_id, "limit": limit, "offset": offset}
    rows = (await session.execute(_AGENT_PAGE, params)).all()
    if rows:
        total = rows[0].total
    else:
        agent = (await session.execute(_AGENT_RESULTS_COUNT, params)).first()
        total = agent.results_count if agent is not None else None
    if total is None:
        raise NotFound("agent", agent_id)
    items = await _page_items(session, rows, reviews=reviews)
    return Page.of(items, total=total, limit=limit, offset=offset)
