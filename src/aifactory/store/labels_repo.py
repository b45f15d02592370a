"""Labels: reviewers' verdicts on results, and every read agreement and reviews need of them.

A label row carries what it is measured against, copied from its result when written (a finished
result never changes): the agent, run and suite, and the judge check it counts for with that
check's type, criterion and verdict (:func:`aifactory.domain.review.judged_check`). So:

- an agent's agreement reads its labels through ``ix_labels_agent_created`` and nothing else
  (:func:`agreement_votes`), whatever the size of the agent's history;
- a page of results gets its reviews with one query on ``ix_labels_result_created``
  (:func:`reviews_of`), and none when its rows say nobody labeled them (:func:`has_labels`);
- a run's review (people's pass rate next to the checks') joins its labels (``ix_labels_run``)
  to their results by primary key (:func:`run_verdicts`, :func:`with_run_review`), unless the
  run's row says it has none (:func:`has_result_labels`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Exists, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import Review, TestResult
from aifactory.domain.review import JudgedCheck, Label, LabelVote, review_of, run_review
from aifactory.domain.runs import Run
from aifactory.errors import NotFound
from aifactory.store.tables import Label as LabelRow
from aifactory.store.tables import Result, utcnow

_labels = cast(Table, LabelRow.__table__)
_l = _labels.c
_results = cast(Table, Result.__table__)
_LABEL_COLUMNS = (
    _l.id,
    _l.result_id,
    _l.check_index,
    _l.passed,
    _l.score,
    _l.comment,
    _l.reviewer,
    _l.api_key_id,
    _l.created_at,
)
_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under every backend's bound-parameter limit."""


def _to_label(row: Any) -> Label:
    return Label(
        id=row.id,
        result_id=row.result_id,
        check=row.check_index,
        passed=bool(row.passed),
        score=row.score,
        comment=row.comment,
        reviewer=row.reviewer,
        api_key_id=row.api_key_id,
        created_at=row.created_at,
    )


async def add_label(
    session: AsyncSession,
    result: TestResult,
    *,
    suite_id: str | None,
    check: int | None,
    judged: JudgedCheck | None,
    passed: bool,
    score: float | None,
    comment: str | None,
    reviewer: str,
    api_key_id: str | None,
) -> Label:
    """Store a label on ``result`` (a finished result read from the store, so it has its ids)."""
    if result.id is None or result.run_id is None or result.agent_id is None:
        raise ValueError("A label is written on a stored result (with its id, run and agent).")
    label = Label(
        id=str(uuid.uuid4()),
        result_id=result.id,
        check=check,
        passed=passed,
        score=score,
        comment=comment,
        reviewer=reviewer,
        api_key_id=api_key_id,
        created_at=utcnow(),
    )
    await session.execute(
        insert(LabelRow).values(
            id=label.id,
            result_id=label.result_id,
            agent_id=result.agent_id,
            run_id=result.run_id,
            suite_id=suite_id,
            check_index=check,
            judged_check=judged.index if judged else None,
            check_type=judged.check_type if judged else None,
            criterion=judged.criterion if judged else None,
            judge_passed=judged.judge_passed if judged else None,
            passed=passed,
            score=score,
            comment=comment,
            reviewer=reviewer,
            api_key_id=api_key_id,
            created_at=label.created_at,
        )
    )
    return label


async def get_label(session: AsyncSession, label_id: str) -> Label:
    """One label.

    Raises:
        NotFound: no such label.
    """
    row = (await session.execute(select(*_LABEL_COLUMNS).where(_l.id == label_id))).first()
    if row is None:
        raise NotFound("label", label_id)
    return _to_label(row)


async def delete_label(session: AsyncSession, label_id: str) -> None:
    """Delete a label (nothing when it is already gone)."""
    await session.execute(delete(LabelRow).where(_l.id == label_id))


async def list_labels(session: AsyncSession, result_id: str) -> list[Label]:
    """A result's labels, oldest first."""
    rows = await session.execute(
        select(*_LABEL_COLUMNS).where(_l.result_id == result_id).order_by(_l.created_at, _l.id)
    )
    return [_to_label(r) for r in rows]


async def labels_of(session: AsyncSession, result_ids: Iterable[str]) -> dict[str, list[Label]]:
    """The labels of each of ``result_ids`` (oldest first); results without labels are absent."""
    ids = list(dict.fromkeys(result_ids))
    found: dict[str, list[Label]] = defaultdict(list)
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(*_LABEL_COLUMNS)
            .where(_l.result_id.in_(ids[start : start + _IN_CHUNK]))
            .order_by(_l.created_at, _l.id)
        )
        for row in rows:
            found[row.result_id].append(_to_label(row))
    return dict(found)


def has_labels(result_id: ColumnElement[str]) -> Exists:
    """Whether the result ``result_id`` names has labels (``ix_labels_result_created``).

    Listings of results select it beside each row, so only labeled results are looked up
    (:func:`with_reviews`) and a page nobody labeled costs no query here.
    """
    return select(_l.id).where(_l.result_id == result_id).exists()


def has_result_labels(run_id: ColumnElement[str]) -> Exists:
    """Whether the run ``run_id`` names has result-level labels (``ix_labels_run``).

    Selected beside a run, so :func:`with_run_review` skips its query for a run nobody labeled.
    """
    return select(_l.id).where(_l.run_id == run_id, _l.check_index.is_(None)).exists()


async def reviews_of(session: AsyncSession, result_ids: Iterable[str]) -> dict[str, Review]:
    """The review of each of ``result_ids`` that has labels."""
    reviews: dict[str, Review] = {}
    for result_id, labels in (await labels_of(session, result_ids)).items():
        review = review_of(labels)
        if review is not None:
            reviews[result_id] = review
    return reviews


async def with_reviews(session: AsyncSession, results: Sequence[TestResult]) -> None:
    """Set ``review`` on each of ``results`` that has labels (one query per 500 results)."""
    ids = [r.id for r in results if r.id is not None]
    if not ids:
        return
    reviews = await reviews_of(session, ids)
    for result in results:
        if result.id is not None and result.id in reviews:
            result.review = reviews[result.id]


async def agreement_votes(
    session: AsyncSession,
    *,
    agent_id: str | None = None,
    suite_id: str | None = None,
    check_type: str | None = None,
) -> list[LabelVote]:
    """Every label that counts for a judge check, of an agent and/or suite and/or check type."""
    where: list[ColumnElement[bool]] = [_l.judged_check.is_not(None)]
    if agent_id is not None:
        where.append(_l.agent_id == agent_id)
    if suite_id is not None:
        where.append(_l.suite_id == suite_id)
    if check_type is not None:
        where.append(_l.check_type == check_type)
    rows = await session.execute(
        select(
            _l.id,
            _l.result_id,
            _l.reviewer,
            _l.passed,
            _l.created_at,
            _l.judged_check,
            _l.check_type,
            _l.criterion,
            _l.judge_passed,
        ).where(*where)
    )
    return [
        LabelVote(
            result_id=r.result_id,
            reviewer=r.reviewer,
            passed=bool(r.passed),
            created_at=r.created_at,
            label_id=r.id,
            target=r.judged_check,
            check_type=r.check_type,
            criterion=r.criterion,
            judge_passed=r.judge_passed,
        )
        for r in rows
    ]


async def run_verdicts(session: AsyncSession, run_id: str) -> list[tuple[bool, bool | None]]:
    """(the checks' verdict, the people's verdict) of each result of a run with result labels.

    The people's verdict is the majority of the latest result-level label of each reviewer
    (None on a tie).
    """
    rows = await session.execute(
        select(*_LABEL_COLUMNS, _results.c.passed.label("judge_passed"))
        .join(_results, _results.c.id == _l.result_id)
        .where(_l.run_id == run_id, _l.check_index.is_(None))
    )
    labels: dict[str, list[Label]] = defaultdict(list)
    judge: dict[str, bool] = {}
    for row in rows:
        labels[row.result_id].append(_to_label(row))
        judge[row.result_id] = bool(row.judge_passed)
    verdicts = []
    for result_id, result_labels in labels.items():
        review = review_of(result_labels)
        verdicts.append((judge[result_id], review.passed if review else None))
    return verdicts


async def labeled_result_ids(
    session: AsyncSession, *, agent_id: str, limit: int | None = None
) -> list[str]:
    """The results of an agent that have labels, most recently labeled first."""
    newest = select(_l.result_id, _l.created_at).where(_l.agent_id == agent_id)
    rows = await session.execute(newest.order_by(_l.created_at.desc(), _l.id.desc()))
    seen: dict[str, None] = {}
    for row in rows:
        seen.setdefault(row.result_id, None)
        if limit is not None and len(seen) >= limit:
            break
    return list(seen)


async def with_run_review(session: AsyncSession, run: Run, *, labeled: bool = True) -> Run:
    """The run with ``summary["review"]`` (:class:`RunReview`) once it has ended and has labels.

    Runs in flight are returned as they are: they are polled, and people label finished runs.
    ``labeled=False``: the caller read :func:`has_result_labels` beside the run, and it was false.
    """
    if not labeled or not run.finished or run.completed == 0:
        return run
    review = run_review(await run_verdicts(session, run.id))
    if review.labeled == 0:
        return run
    summary = {**(run.summary or {}), "review": review.model_dump(mode="json")}
    return dataclasses.replace(run, summary=summary)
