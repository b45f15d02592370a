"""Light reads of a run's results for comparisons and trends: name, status and score only.

Comparing two 10,000-case runs needs neither outputs nor checks; reading only these columns
(the name straight out of the stored case's JSON) keeps it several times faster than reading
whole results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from sqlalchemy import String, Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.compare import CaseOutcome
from aifactory.errors import NotFound
from aifactory.store.tables import FINISHED_STATUSES, Result, Run

_r = cast(Table, Result.__table__).c
_NAME = _r.test_case["name"].as_string().cast(String)


async def iter_run_outcomes(
    session: AsyncSession, run_id: str, *, chunk_size: int = 5000
) -> AsyncIterator[list[CaseOutcome]]:
    """Every finished result of a run as a :class:`CaseOutcome`, in case order, by chunks.

    Raises:
        NotFound: no such run.
    """
    if await session.get(Run, run_id) is None:
        raise NotFound("run", run_id)
    after = (-1, -1)
    while True:
        rows = (
            await session.execute(
                select(
                    _NAME.label("name"),
                    _r.case_index,
                    _r.repeat_index,
                    _r.status,
                    _r.score,
                    _r.agent_version,
                )
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
        yield [
            CaseOutcome(
                name=row.name,
                repeat_index=row.repeat_index,
                status=row.status,
                score=row.score or 0.0,
                case_index=row.case_index,
                agent_version=row.agent_version,
            )
            for row in rows
        ]
        if len(rows) < chunk_size:
            return
