"""Results: claiming cases under a lease, completing them exactly once, and reading them back.

The life of a result row::

    pending ──claim──> running ──complete──> passed | failed | error
       ^                  │
       └──release/expiry──┘          (cancel: pending | running ──> cancelled)

A worker claims cases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer does the
same job), and completes each only while it still owns it: a redelivered task or a worker whose
lease ran out and was reclaimed gets False and writes nothing, so no case ever has two results.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.leases import ClaimedCase, ExpiredLease
from aifactory.domain.models import TestResult
from aifactory.domain.paging import Page
from aifactory.domain.runs import NewRun, Run
from aifactory.errors import NotFound
from aifactory.store._bulk import case_from_json, case_to_json, like_tag, rowcount, tags_column
from aifactory.store.runs_repo import new_run_values
from aifactory.store.tables import FINISHED_STATUSES, Agent, Result, utcnow
from aifactory.store.tables import Run as RunRow

DEFAULT_MAX_ATTEMPTS = 3
"""Claims after which a case whose worker keeps vanishing is given up as an ``error``."""

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
)


def _counter_values(status: str, n: int = 1) -> dict[str, Any]:
    column = {"passed": RunRow.passed, "failed": RunRow.failed, "error": RunRow.errored}[status]
    return {"completed": RunRow.completed + n, column.key: column + n}


async def _count_finished(
    session: AsyncSession, run_id: str, agent_id: str, status: str, n: int = 1
) -> None:
    # Same transaction as the result: polling reads counters that always match the rows.
    await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values(**_counter_values(status, n))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(results_count=Agent.results_count + n)
        .execution_options(synchronize_session=False)
    )


async def claim_cases(
    session: AsyncSession,
    run_id: str,
    owner: str,
    *,
    lease_s: float,
    limit: int,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: datetime | None = None,
) -> list[ClaimedCase]:
    """Take up to ``limit`` of the run's cases for ``owner`` until ``now + lease_s``.

    Cases whose lease ran out come first, then pending ones in case order. A case already claimed
    ``max_attempts`` times whose lease ran out again is finished as an ``error`` instead (its
    worker keeps dying on it). Commit promptly: the claim holds until the transaction ends.
    """
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_s)
    await _give_up_exhausted(session, run_id, max_attempts, now)
    expired = and_(_r.status == "running", _r.lease_expires_at < now)
    claimed: list[ClaimedCase] = []
    for predicate in (expired, _r.status == "pending"):
        wanted = limit - len(claimed)
        if wanted <= 0:
            break
        ids = (
            select(_r.id)
            .where(_r.run_id == run_id, predicate)
            .order_by(_r.case_index, _r.repeat_index)
            .limit(wanted)
            .with_for_update(skip_locked=True)
        )
        rows = await session.execute(
            update(_results)
            .where(_r.id.in_(ids.scalar_subquery()))
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=expires,
                attempts=_r.attempts + 1,
            )
            .returning(
                _r.id,
                _r.run_id,
                _r.agent_id,
                _r.agent_version,
                _r.case_index,
                _r.repeat_index,
                _r.test_case,
                _r.attempts,
            )
        )
        claimed.extend(
            ClaimedCase(
                result_id=row.id,
                run_id=row.run_id,
                agent_id=row.agent_id,
                agent_version=row.agent_version,
                case_index=row.case_index,
                repeat_index=row.repeat_index,
                test_case=case_from_json(row.test_case),
                attempts=row.attempts,
                lease_expires_at=expires,
            )
            for row in rows
        )
    claimed.sort(key=lambda c: (c.case_index, c.repeat_index))
    return claimed


async def _give_up_exhausted(
    session: AsyncSession, run_id: str, max_attempts: int, now: datetime
) -> None:
    rows = await session.execute(
        update(_results)
        .where(
            _r.run_id == run_id,
            _r.status == "running",
            _r.lease_expires_at < now,
            _r.attempts >= max_attempts,
        )
        .values(
            status="error",
            passed=False,
            score=0.0,
            error=(
                f"The case was claimed {max_attempts} times and its worker never finished it; "
                "it was given up. Check the workers' logs for crashes on this case."
            ),
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(_r.agent_id)
    )
    agent_ids = rows.scalars().all()
    if agent_ids:
        await _count_finished(session, run_id, agent_ids[0], "error", len(agent_ids))


async def extend_leases(
    session: AsyncSession, result_ids: list[str], owner: str, *, lease_s: float
) -> int:
    """Push the leases ``owner`` still holds to ``now + lease_s``; returns how many it holds."""
    if not result_ids:
        return 0
    result = await session.execute(
        update(_results)
        .where(_r.id.in_(result_ids), _r.status == "running", _r.lease_owner == owner)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
    )
    return rowcount(result)


async def complete_case(
    session: AsyncSession,
    result_id: str,
    owner: str,
    result: TestResult,
    *,
    now: datetime | None = None,
) -> bool:
    """Record the outcome of a case, once.

    The row changes only while it is pending or running under ``owner``'s claim; the run's
    counters and the agent's result count change in the same transaction.

    Returns:
        True when this call recorded the result; False when the case was already finished,
        cancelled, or claimed by another worker (nothing is written then).
    """
    now = now or utcnow()
    owned = or_(_r.status == "pending", and_(_r.status == "running", _r.lease_owner == owner))
    rows = await session.execute(
        update(_results)
        .where(_r.id == result_id, owned)
        .values(**_outcome_values(result, now))
        .returning(_r.run_id, _r.agent_id)
    )
    row = rows.first()
    if row is None:
        return False
    await _count_finished(session, row.run_id, row.agent_id, result.status)
    return True


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


def _outcome_values(result: TestResult, now: datetime) -> dict[str, Any]:
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
        "finished_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }


async def record_result(session: AsyncSession, run: NewRun, result: TestResult) -> TestResult:
    """Store a single synchronous result as a finished one-case run; returns it with its ids.

    The hot path of ``POST /test/run``: the finished run and its result row are inserted
    directly (no pending row, claim and completion), and the agent's counter is touched last so
    its row lock is held for as short a time as possible.

    Raises:
        NotFound: the agent does not exist.
    """
    now = utcnow()
    run_id = run.id or str(uuid.uuid4())
    result_id = str(uuid.uuid4())
    counters = {"passed": 0, "failed": 0, "errored": 0}
    counters["errored" if result.status == "error" else result.status] = 1
    await session.execute(
        insert(RunRow).values(
            **new_run_values(run, run_id, now),
            status="completed",
            total=1,
            completed=1,
            cancelled=0,
            repeat=1,
            started_at=now,
            finished_at=now,
            **counters,
        )
    )
    await session.execute(
        insert(_results).values(
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
            **_outcome_values(result, now),
        )
    )
    counted = await session.execute(
        update(Agent)
        .where(Agent.id == run.agent_id, Agent.deleted_at.is_(None))
        .values(results_count=Agent.results_count + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(counted) != 1:
        # Deleted (or never stored) since the caller read it: the caller's transaction rolls back.
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


async def release_cases(session: AsyncSession, owner: str, *, run_id: str | None = None) -> int:
    """Give back the running cases ``owner`` holds (a worker shutting down); returns how many."""
    conditions = [_r.status == "running", _r.lease_owner == owner]
    if run_id is not None:
        conditions.append(_r.run_id == run_id)
    result = await session.execute(
        update(_results)
        .where(*conditions)
        .values(status="pending", lease_owner=None, lease_expires_at=None)
    )
    return rowcount(result)


async def requeue_running_cases(session: AsyncSession, *, run_id: str | None = None) -> int:
    """Put every running case back to pending, whoever holds it; returns how many.

    For the embedded mode starting up: its previous process is gone, so no lease it held means
    anything and waiting for them to expire would only delay the resumed runs. Never call it
    while other workers may be running cases.
    """
    conditions = [_r.status == "running"]
    if run_id is not None:
        conditions.append(_r.run_id == run_id)
    result = await session.execute(
        update(_results)
        .where(*conditions)
        .values(status="pending", lease_owner=None, lease_expires_at=None)
    )
    return rowcount(result)


async def expired_leases(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 1000
) -> list[ExpiredLease]:
    """Running cases whose lease has run out (any run), oldest lease first."""
    now = now or utcnow()
    rows = await session.execute(
        select(_r.id, _r.run_id, _r.lease_owner, _r.attempts)
        .where(_r.status == "running", _r.lease_expires_at < now)
        .order_by(_r.lease_expires_at)
        .limit(limit)
    )
    return [ExpiredLease(r.id, r.run_id, r.lease_owner, r.attempts) for r in rows]


def _to_result(row: Any) -> TestResult:
    # One validation of the whole nested result (pydantic-core walks it in one call), not one
    # per nested model: reading results is the hot path of status, history and reports.
    return TestResult.model_validate(
        {
            "id": row.id,
            "run_id": row.run_id,
            "agent_id": row.agent_id,
            "agent_version": row.agent_version,
            "case_index": row.case_index,
            "repeat_index": row.repeat_index,
            "test_case": row.test_case,
            "status": row.status,
            "passed": bool(row.passed),
            "score": row.score or 0.0,
            "feedback": row.feedback or "",
            "output": row.output,
            "checks": row.checks or [],
            "tool_calls": row.tool_calls or [],
            "latency_ms": row.latency_ms,
            "usage": {
                "input_tokens": row.input_tokens or 0,
                "output_tokens": row.output_tokens or 0,
                "cost_usd": row.cost_usd,
            },
            "judge_usage": {
                "input_tokens": row.judge_input_tokens or 0,
                "output_tokens": row.judge_output_tokens or 0,
                "cost_usd": row.judge_cost_usd,
            },
            "error": row.error,
            "cached": bool(row.cached),
            "created_at": row.finished_at,
        }
    )


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
) -> Page[TestResult]:
    """A run's finished results in case order, optionally of one status and/or tag.

    ``run``: the run, when the caller has just read it (its counters give the totals).

    Raises:
        NotFound: no such run.
        ValueError: ``status`` is not ``passed``, ``failed`` or ``error``.
    """
    if run is None:
        run = await session.get(RunRow, run_id, populate_existing=True)
        if run is None:
            raise NotFound("run", run_id)
    if status is not None and status not in FINISHED_STATUSES:
        raise ValueError(f"status must be passed, failed or error, not {status!r}.")
    statuses = (status,) if status else FINISHED_STATUSES
    where = [_r.run_id == run_id, _r.status.in_(statuses)]
    if tag is not None:
        where.append(_r.tags.like(like_tag(tag), escape="\\"))
        total = (
            await session.execute(select(func.count()).select_from(Result).where(*where))
        ).scalar_one()
    else:
        # The run's counters already know these totals.
        total = {None: run.completed, "passed": run.passed, "failed": run.failed}.get(
            status, run.errored
        )
    rows = await session.execute(
        select(*_RESULT_COLUMNS)
        .where(*where)
        .order_by(_r.case_index, _r.repeat_index)
        .limit(limit)
        .offset(offset)
    )
    return Page(items=[_to_result(r) for r in rows], total=total, limit=limit, offset=offset)


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
    session: AsyncSession, agent_id: str, *, limit: int = 10, offset: int = 0
) -> Page[TestResult]:
    """An agent's finished results over every version and run, newest first.

    Reads through the partial index ``(agent_id, finished_at DESC, id DESC)`` and takes the total
    from the agent's counter, so the cost does not grow with the agent's history.

    Raises:
        NotFound: no such agent (deleted agents' history stays readable).
    """
    agent = await session.get(Agent, agent_id, populate_existing=True)
    if agent is None:
        raise NotFound("agent", agent_id)
    rows = await session.execute(
        select(*_RESULT_COLUMNS)
        .where(_r.agent_id == agent_id, _r.finished_at.is_not(None))
        .order_by(_r.finished_at.desc(), _r.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [_to_result(r) for r in rows]
    return Page(items=items, total=agent.results_count, limit=limit, offset=offset)
