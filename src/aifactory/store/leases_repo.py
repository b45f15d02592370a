"""Leases: a case from its claim to its one result, and its run from queued to finished.

The life of a result row::

    pending ──claim──> running ──complete──> passed | failed | error
       ^                  │
       └──release/expiry──┘          (cancel: pending | running ──> cancelled)

A worker claims cases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer does the
same job), extends the leases of the cases it still runs, and completes each only while it still
owns it: a redelivered task or a worker whose lease ran out and was reclaimed gets False and writes
nothing, so no case ever has two results. A case claimed ``max_attempts`` times whose lease runs
out again is given up as an ``error``. The run's counters and the agent's result count change in
the same transaction as the rows, so the run's status can be read from one row, and
:func:`finish_run_if_done` completes the run once no case is pending or running.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.leases import ClaimedCase, ExpiredLease
from aifactory.domain.models import TestResult
from aifactory.domain.runs import ACTIVE, RunStatus
from aifactory.store import counts_repo
from aifactory.store._bulk import case_from_json, rowcount
from aifactory.store.database import Database
from aifactory.store.results_repo import outcome_values
from aifactory.store.tables import Result, utcnow
from aifactory.store.tables import Run as RunRow

DEFAULT_MAX_ATTEMPTS = 3
"""Claims after which a case whose worker keeps vanishing is given up as an ``error``."""

_EXTEND_BATCH = 500
_RELEASE_BATCH = 1000
_UNFINISHED = ("pending", "running")
_COUNTERS = {"passed": RunRow.passed, "failed": RunRow.failed, "error": RunRow.errored}
"""The run's counter of each finished status."""

_results = cast(Table, Result.__table__)
_r = _results.c


def _owned_by(owner: str) -> Any:
    """Rows ``owner`` may complete: pending ones, or running under its claim."""
    return or_(_r.status == "pending", and_(_r.status == "running", _r.lease_owner == owner))


# -- claim ------------------------------------------------------------------------------------


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


# -- extend, release, expire ------------------------------------------------------------------


async def extend_leases(
    session: AsyncSession, result_ids: list[str], owner: str, *, lease_s: float
) -> int:
    """Push the leases ``owner`` still holds to ``now + lease_s``; returns how many it holds.

    Any number of ids: they are sent a few hundred per statement, in the caller's transaction.
    """
    held = 0
    for start in range(0, len(result_ids), _EXTEND_BATCH):
        result = await session.execute(
            update(_results)
            .where(
                _r.id.in_(result_ids[start : start + _EXTEND_BATCH]),
                _r.status == "running",
                _r.lease_owner == owner,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        )
        held += rowcount(result)
    return held


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


async def release_all_claims(db: Database) -> int:
    """Give back every ``running`` case, whoever holds it, owner by owner; returns how many.

    Like :func:`requeue_running_cases`, for an embedded process starting up, but in one short
    write transaction per batch of owners rather than one for the whole table.
    """
    # Every lease "runs out" before a date far ahead, so expired_leases lists them all.
    far_future = utcnow() + timedelta(days=365 * 100)
    released = 0
    while True:
        async with db.write() as session:
            held = await expired_leases(session, now=far_future, limit=_RELEASE_BATCH)
            owners = {lease.lease_owner for lease in held if lease.lease_owner is not None}
            count = 0
            for owner in owners:
                count += await release_cases(session, owner)
        released += count
        if count == 0:
            return released


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


# -- complete ---------------------------------------------------------------------------------


async def _count_finished(
    session: AsyncSession, run_id: str, agent_id: str, status: str, n: int = 1
) -> None:
    # Same transaction as the result: polling reads counters that always match the rows.
    column = _COUNTERS[status]
    await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id)
        .values({"completed": RunRow.completed + n, column.key: column + n})
        .execution_options(synchronize_session=False)
    )
    await counts_repo.add(session, {agent_id: n})


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
    rows = await session.execute(
        update(_results)
        .where(_r.id == result_id, _owned_by(owner))
        .values(**outcome_values(result, now))
        .returning(_r.run_id, _r.agent_id)
    )
    row = rows.first()
    if row is None:
        return False
    await _count_finished(session, row.run_id, row.agent_id, result.status)
    return True


async def complete_many(
    session: AsyncSession,
    owner: str,
    items: list[tuple[str, TestResult]],
    *,
    now: datetime | None = None,
) -> list[bool]:
    """Record the outcomes of several claimed cases at once, each at most once.

    The batch twin of :func:`complete_case`, with the same rules, in four statements per batch
    (lock the rows, write them, count them on their runs and agents) instead of three per result:
    what lets SQLite, which allows one writer at a time, keep up with a fast agent.

    Args:
        session: a write session; everything happens in its transaction.
        owner: the lease owner that claimed the cases.
        items: ``(result_id, result)`` pairs.
        now: the finish time to stamp.

    Returns:
        For each item, whether this call recorded it (False when the case was already finished,
        cancelled, claimed by another worker, or named twice in ``items``).
    """
    now = now or utcnow()
    ids = list(dict.fromkeys(result_id for result_id, _ in items))
    rows = await session.execute(
        select(_r.id, _r.run_id, _r.agent_id)
        .where(_r.id.in_(ids), _owned_by(owner))
        .order_by(_r.id)  # the same lock order in every transaction: no deadlocks
        .with_for_update()
    )
    targets = {row.id: row for row in rows}
    recorded: list[bool] = []
    params: list[dict[str, Any]] = []
    runs: defaultdict[str, Counter[str]] = defaultdict(Counter)
    agents: Counter[str] = Counter()
    for result_id, result in items:
        row = targets.pop(result_id, None)
        recorded.append(row is not None)
        if row is None:
            continue
        values = outcome_values(result, now)
        params.append({"b_id": result_id, **{f"b_{k}": v for k, v in values.items()}})
        runs[row.run_id][result.status] += 1
        agents[row.agent_id] += 1
    if not params:
        return recorded
    columns = [key[2:] for key in params[0] if key != "b_id"]
    await session.execute(
        update(_results)
        .where(_r.id == bindparam("b_id"))
        .values({column: bindparam(f"b_{column}") for column in columns}),
        params,
    )
    for run_id, by_status in runs.items():
        counters: dict[str, Any] = {"completed": RunRow.completed + sum(by_status.values())}
        for status, n in by_status.items():
            column = _COUNTERS[status]
            counters[column.key] = column + n
        await session.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(**counters)
            .execution_options(synchronize_session=False)
        )
    await counts_repo.add(session, agents)
    return recorded


# -- finish -----------------------------------------------------------------------------------


async def finish_run_if_done(
    session: AsyncSession, run_id: str, *, summary: dict[str, Any] | None = None
) -> bool:
    """Mark the run ``completed`` when no case is pending or running (a cancelled run stays so).

    Args:
        session: a write session.
        run_id: the run.
        summary: stored on the run in the same statement, when this call completes it (so the
            run is never seen completed without its summary).

    Returns:
        Whether this call completed the run.
    """
    unfinished = exists().where(_r.run_id == run_id, _r.status.in_(_UNFINISHED))
    now = utcnow()
    values: dict[str, Any] = {
        "status": RunStatus.COMPLETED.value,
        "finished_at": now,
        "started_at": func.coalesce(RunRow.started_at, now),
    }
    if summary is not None:
        values["summary"] = summary
    result = await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status.in_(ACTIVE), ~unfinished)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1
