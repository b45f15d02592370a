"""Limits a batch honours: concurrency (run, agent across runs, worker) and a cost budget."""

from __future__ import annotations

import pytest
from tests.fakes.mock_agent import start_mock_agent
from tests.integration.queue.conftest import StartQueue
from tests.integration.queue.queue_support import (
    add_agent,
    add_run,
    assert_counters_match_rows,
    get_run,
    row_counts,
)

from aifactory.store.database import Database


@pytest.mark.parametrize(
    ("agent_max", "run_concurrency", "worker_concurrency", "expected_peak"),
    [
        pytest.param(4, None, 64, 4, id="agent-limit-shared-by-two-runs"),
        pytest.param(16, 2, 64, 4, id="two-runs-of-concurrency-2"),
        pytest.param(16, None, 3, 3, id="worker-limit"),
    ],
)
async def test_concurrency_limits_hold_over_two_runs_of_one_agent(
    database: Database,
    start_queue: StartQueue,
    agent_max: int,
    run_concurrency: int | None,
    worker_concurrency: int,
    expected_peak: int,
) -> None:
    queue = await start_queue(concurrency=worker_concurrency)
    async with start_mock_agent(latency_s=0.04) as mock:
        await add_agent(
            database,
            "http-bot",
            kind="http",
            config={"url": f"{mock.url}/agent"},
            max_concurrency=agent_max,
        )
        runs = [
            await add_run(database, "http-bot", 30, expect="echo", concurrency=run_concurrency)
            for _ in range(2)
        ]
        for run in runs:
            await queue.enqueue(run.id, run.total)
        await queue.run_until_idle(timeout_s=20)

        assert mock.peak_in_flight == expected_peak
        assert len(mock.requests) == 60
    for run in runs:
        done = await get_run(database, run.id)
        assert done.status == "completed"
        assert await row_counts(database, run.id) == {"passed": 30}


async def test_a_spent_budget_fails_the_run(database: Database, start_queue: StartQueue) -> None:
    queue = await start_queue()
    # Every answer reports a cost of $0.0001 (the mock's default usage).
    async with start_mock_agent(latency_s=0.01) as mock:
        await add_agent(
            database, "paid", kind="http", config={"url": f"{mock.url}/agent"}, max_concurrency=2
        )
        run = await add_run(database, "paid", 200, expect="echo", metadata={"budget_usd": 0.001})
        await queue.enqueue(run.id, run.total)
        await queue.run_until_idle(timeout_s=20)
        calls = len(mock.requests)

    done = await get_run(database, run.id)
    counts = await row_counts(database, run.id)
    assert done.status == "failed"
    assert done.error is not None and "budget exhausted" in done.error
    assert 10 <= done.completed < 20  # stops once $0.001 is spent, give or take in-flight cases
    assert calls < 25
    assert_counters_match_rows(done, counts)
    assert done.summary is not None and done.summary["stopped_reason"] == "budget"
    assert done.summary["cost_usd"] == pytest.approx(done.completed * 0.0001)
