"""Aggregates a worker reads back from a run's stored results: its summary and its spend.

Both stream the results a chunk at a time, so memory stays flat for 100,000-case runs.
"""

from __future__ import annotations

from aifactory.domain.models import RunSummary, TestResult
from aifactory.engine.summary import SummaryBuilder
from aifactory.store import results_repo, runs_repo
from aifactory.store.database import Database


def result_cost(result: TestResult) -> float:
    """What a result cost: the agent's usage plus the judge's and the simulated user's (unknown
    prices count as zero)."""
    return (
        (result.usage.cost_usd or 0.0)
        + (result.judge_usage.cost_usd or 0.0)
        + (result.simulator_usage.cost_usd or 0.0)
    )


async def build_summary(
    db: Database, run_id: str, *, stopped_reason: str | None = None
) -> RunSummary:
    """The run's summary, computed from its finished results.

    Args:
        db: the database.
        run_id: the run.
        stopped_reason: why the run stopped early (``cancelled``, ``budget``, ``error``).

    Raises:
        NotFound: no such run.
    """
    async with db.session() as session:
        run = await runs_repo.get_run(session, run_id)
        builder = SummaryBuilder(run.total, repeat=run.repeat)
        async for chunk in results_repo.iter_run_results(session, run_id):
            for result in chunk:
                builder.add(result)
    return builder.build(stopped_reason=stopped_reason)


async def store_summary(
    db: Database, run_id: str, *, stopped_reason: str | None = None
) -> RunSummary:
    """Compute the run's summary (see :func:`build_summary`) and store it on the run."""
    summary = await build_summary(db, run_id, stopped_reason=stopped_reason)
    async with db.write() as session:
        await runs_repo.set_summary(session, run_id, summary.model_dump(mode="json"))
    return summary


async def spent_usd(db: Database, run_id: str) -> float:
    """Agent, judge and simulated user cost of the run's finished results."""
    total = 0.0
    async with db.session() as session:
        async for chunk in results_repo.iter_run_results(session, run_id):
            total += sum(result_cost(r) for r in chunk)
    return total
