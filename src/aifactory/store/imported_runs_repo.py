"""Runs made elsewhere: a finished run and its results, stored as they came.

A run the pytest plugin made on a developer's machine or in CI (``POST /api/v1/runs/import``)
is stored like a run of this server's, in the caller's one transaction: the run row already
``completed`` with its counters and summary, one finished result row per case and repeat, in
bulk chunks, and the agent's result count. Its results are then read, compared and reported as
any other run's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import TestResult
from aifactory.domain.runs import NewRun, Run, RunStatus
from aifactory.errors import NotFound
from aifactory.store import counts_repo
from aifactory.store._bulk import CHUNK_SIZE, case_to_json, tags_column
from aifactory.store.results_repo import _no_nul, outcome_values
from aifactory.store.runs_repo import new_run_values, run_record
from aifactory.store.tables import Agent, Result, utcnow
from aifactory.store.tables import Run as RunRow

_results = cast(Table, Result.__table__)


async def store_finished_run(
    session: AsyncSession,
    run: NewRun,
    results: Sequence[TestResult],
    summary: dict[str, Any],
) -> Run:
    """Store ``run`` as completed, with ``results`` (their ``case_index`` and ``repeat_index``
    unique) as its finished results, in the caller's transaction.

    Raises:
        NotFound: the agent does not exist (or was deleted).
    """
    agent = await session.get(Agent, run.agent_id)
    if agent is None or agent.deleted_at is not None:
        raise NotFound("agent", run.agent_id)
    run_id = run.id or str(uuid.uuid4())
    now = utcnow()
    errored = sum(1 for r in results if r.status == "error")
    passed = sum(1 for r in results if r.status == "passed")
    row = RunRow(
        **new_run_values(run, run_id, now),
        status=RunStatus.COMPLETED.value,
        total=len(results),
        completed=len(results),
        passed=passed,
        failed=len(results) - passed - errored,
        errored=errored,
        cancelled=0,
        repeat=run.repeat,
        summary=summary,
        started_at=now,
        finished_at=now,
    )
    session.add(row)
    await session.flush()
    for start in range(0, len(results), CHUNK_SIZE):
        chunk = results[start : start + CHUNK_SIZE]
        await session.execute(
            insert(_results),
            [
                {
                    "id": str(uuid.uuid4()),
                    "run_id": run_id,
                    "agent_id": run.agent_id,
                    "agent_version": run.agent_version,
                    "case_index": result.case_index,
                    "repeat_index": result.repeat_index,
                    "test_case": _no_nul(case_to_json(result.test_case)),
                    "tags": tags_column(result.test_case),
                    "attempts": 1,
                    "created_at": now,
                    **outcome_values(result, now),
                }
                for result in chunk
            ],
        )
    if not await counts_repo.add(session, {run.agent_id: len(results)}):
        raise NotFound("agent", run.agent_id)
    return run_record(row)
