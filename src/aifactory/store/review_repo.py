"""The review queue's reads: the results most worth a person's time, by strategy.

Every strategy reads a run's results in case order or an agent's newest first, by index, and
stops as soon as it has ``limit`` items, so the next item costs the same however long the
history is and however far the reviewer has labeled into it:

- **unlabeled**: finished results (passed or failed) with no label at all, by
  ``ix_results_run_status`` or the partial index ``ix_results_agent_finished``; the
  ``NOT EXISTS`` probes ``ix_labels_result_created``;
- **uncertain**: results the caller has not labeled whose judge check scored near its threshold
  or whose judge samples split. Whether a result is uncertain is decided when it is written
  (``judge_uncertain``, :func:`aifactory.domain.review.uncertainty`) and read through the
  partial indexes ``ix_results_agent_uncertain`` and ``ix_results_run_uncertain``, which hold
  only those results; the reason shown is worked out again on the few rows read;
- **disagreement**: results whose labels contradict the judge, most recently labeled first, read
  from the labels (``judge_passed`` is stored on each label), leaving out in SQL the results the
  caller has labeled, and confirmed on the latest label of each reviewer
  (:func:`aifactory.domain.review.disagreement`).

Errored results are never queued: they carry no verdict to agree or disagree with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from sqlalchemy import Select, Table, and_, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import TestResult
from aifactory.domain.review import ReviewItem, disagreement, review_of, uncertainty
from aifactory.errors import NotFound
from aifactory.store import labels_repo
from aifactory.store.results_repo import _RESULT_COLUMNS, _to_result
from aifactory.store.tables import Agent, Result
from aifactory.store.tables import Label as LabelRow

_results = cast(Table, Result.__table__)
_r = _results.c
_l = cast(Table, LabelRow.__table__).c
_mine = cast(Table, LabelRow.__table__).alias("mine")
VERDICT_STATUSES = ("passed", "failed")
CHUNK = 200


def _scoped(query: Select[Any], *, run_id: str | None, agent_id: str | None) -> Select[Any]:
    if run_id is not None:
        return query.where(_r.run_id == run_id, _r.status.in_(VERDICT_STATUSES))
    return query.where(
        _r.agent_id == agent_id, _r.finished_at.is_not(None), _r.status.in_(VERDICT_STATUSES)
    )


async def _chunks(
    session: AsyncSession,
    query: Select[Any],
    *,
    run_id: str | None,
    agent_id: str | None,
    chunk: int = CHUNK,
) -> AsyncIterator[list[TestResult]]:
    """The scope's results a chunk at a time, by keyset: case order, or newest first."""
    query = _scoped(query, run_id=run_id, agent_id=agent_id)
    after: tuple[Any, ...] | None = None
    while True:
        page = query
        if run_id is not None:
            if after is not None:
                page = page.where(tuple_(_r.case_index, _r.repeat_index) > after)
            page = page.order_by(_r.case_index, _r.repeat_index)
        else:
            if after is not None:
                page = page.where(tuple_(_r.finished_at, _r.id) < after)
            page = page.order_by(_r.finished_at.desc(), _r.id.desc())
        rows = (await session.execute(page.limit(chunk))).all()
        if not rows:
            return
        last = rows[-1]
        after = (
            (last.case_index, last.repeat_index)
            if run_id is not None
            else (last.finished_at, last.id)
        )
        yield [_to_result(r) for r in rows]
        if len(rows) < chunk:
            return


def _unlabeled_by(reviewer: str | None) -> Any:
    conditions = [_l.result_id == _r.id]
    if reviewer is not None:
        conditions.append(_l.reviewer == reviewer)
    return ~exists().where(and_(*conditions))


async def unlabeled(
    session: AsyncSession, *, run_id: str | None, agent_id: str | None, limit: int
) -> list[ReviewItem]:
    """Finished results nobody has labeled."""
    query = select(*_RESULT_COLUMNS).where(_unlabeled_by(None))
    async for results in _chunks(session, query, run_id=run_id, agent_id=agent_id, chunk=limit):
        return [ReviewItem(**dict(r), review_reason="no label yet") for r in results]
    return []


async def uncertain(
    session: AsyncSession,
    *,
    run_id: str | None,
    agent_id: str | None,
    limit: int,
    reviewer: str | None,
) -> list[ReviewItem]:
    """Results ``reviewer`` has not labeled on which the judge was unsure."""
    query = select(*_RESULT_COLUMNS).where(_r.judge_uncertain, _unlabeled_by(reviewer))
    found: list[ReviewItem] = []
    async for results in _chunks(session, query, run_id=run_id, agent_id=agent_id, chunk=limit):
        for result in results:
            reason = uncertainty(result)
            if reason is not None:  # always, unless the rule changed since the row was written
                found.append(ReviewItem(**dict(result), review_reason=reason))
        if len(found) >= limit:
            break
    found = found[:limit]
    if found:
        await labels_repo.with_reviews(session, found)
    return found


async def disputed(
    session: AsyncSession,
    *,
    run_id: str | None,
    agent_id: str | None,
    limit: int,
    reviewer: str | None,
) -> list[ReviewItem]:
    """Results whose latest labels contradict the judge, most recently labeled first."""
    scope = _l.run_id == run_id if run_id is not None else _l.agent_id == agent_id
    candidates = (
        select(_l.result_id, func.max(_l.created_at).label("latest"))
        .where(scope, _l.judge_passed.is_not(None), _l.passed != _l.judge_passed)
        .group_by(_l.result_id)
        .order_by(func.max(_l.created_at).desc(), _l.result_id)
    )
    if reviewer is not None:
        # The results the reviewer labeled are left out here, not after reading them: they are
        # the most recently labeled, so they would come first, more of them with every label.
        candidates = candidates.where(
            ~exists().where(_mine.c.result_id == _l.result_id, _mine.c.reviewer == reviewer)
        )
    # A few more candidates than asked for: the latest labels of some may no longer disagree.
    chunk = min(CHUNK, 2 * limit + 10)
    found: list[ReviewItem] = []
    offset = 0
    while len(found) < limit:
        ids = [
            row.result_id for row in await session.execute(candidates.limit(chunk).offset(offset))
        ]
        if not ids:
            break
        offset += len(ids)
        rows = await session.execute(select(*_RESULT_COLUMNS).where(_r.id.in_(ids)))
        by_id = {row.id: _to_result(row) for row in rows}
        labels = await labels_repo.labels_of(session, ids)
        for result_id in ids:
            result, result_labels = by_id.get(result_id), labels.get(result_id, [])
            if result is None:
                continue
            if reviewer is not None and any(lb.reviewer == reviewer for lb in result_labels):
                continue
            reason = disagreement(result, result_labels)
            if reason is None:
                continue
            item = ReviewItem(**dict(result), review_reason=reason)
            item.review = review_of(result_labels)
            found.append(item)
            if len(found) >= limit:
                break
        if len(ids) < chunk:
            break
    return found


async def results_by_id(session: AsyncSession, ids: list[str]) -> list[TestResult]:
    """The finished results among ``ids`` (any order; unknown ids are skipped)."""
    found: list[TestResult] = []
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(*_RESULT_COLUMNS).where(
                _r.id.in_(ids[start : start + CHUNK]), _r.finished_at.is_not(None)
            )
        )
        found.extend(_to_result(row) for row in rows)
    return found


async def agent_name(session: AsyncSession, agent_id: str) -> str | None:
    """The agent's name (deleted agents' history stays reviewable).

    Raises:
        NotFound: no such agent was ever stored.
    """
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    return agent.name
