"""The in-process queue on SQLite and PostgreSQL: every case once, redelivery, cancel, leases."""

from __future__ import annotations

import asyncio

from tests.fakes.mock_agent import start_mock_agent
from tests.integration.queue.conftest import StartQueue
from tests.integration.queue.queue_support import (
    add_agent,
    add_run,
    assert_counters_match_rows,
    duplicated_cases,
    get_run,
    results_count,
    row_counts,
    wait_until,
)

from aifactory.store import agents_repo, leases_repo, runs_repo
from aifactory.store.database import Database


async def test_a_batch_runs_every_case_exactly_once(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "bot", config={"default": "ok", "latency_ms": 1})
    run = await add_run(database, "bot", 500, fail_every=5, concurrency=32)

    await queue.enqueue(run.id, run.total)
    await queue.run_until_idle(timeout_s=30)

    done = await get_run(database, run.id)
    counts = await row_counts(database, run.id)
    assert done.status == "completed"
    assert counts == {"passed": 400, "failed": 100}
    assert_counters_match_rows(done, counts)
    assert await duplicated_cases(database, run.id) == 0
    assert await results_count(database, "bot") == 500
    assert done.started_at is not None and done.finished_at is not None
    assert done.summary is not None
    assert (done.summary["total"], done.summary["passed"], done.summary["failed"]) == (
        500,
        400,
        100,
    )
    assert done.summary["pass_rate"] == 0.8
    assert queue.depth() == 0


async def test_a_token_delivered_twice_records_each_case_once(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "bot", config={"default": "ok", "latency_ms": 5})
    run = await add_run(database, "bot", 40)

    # The same token executed twice at once, as a redelivery would.
    recorded = await asyncio.gather(
        queue.worker.process_chunk(run.id, 50), queue.worker.process_chunk(run.id, 50)
    )
    assert sum(recorded) == 40
    assert await queue.worker.process_chunk(run.id, 50) == 0
    # And through the broker, twice more after the run finished.
    await queue.enqueue(run.id, 40)
    await queue.enqueue(run.id, 40)
    await queue.run_until_idle(timeout_s=10)

    done = await get_run(database, run.id)
    assert done.status == "completed"
    assert await row_counts(database, run.id) == {"passed": 40}
    assert done.completed == 40
    assert await results_count(database, "bot") == 40


async def test_cancel_stops_in_flight_cases_at_once(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "slow", config={"default": "ok", "latency_ms": 300})
    run = await add_run(database, "slow", 200, concurrency=8)
    await queue.enqueue(run.id, run.total)

    async def some_done() -> bool:
        return (await get_run(database, run.id)).completed >= 8

    await wait_until(some_done, what="the first cases")
    assert queue.worker.in_flight > 0
    async with database.write() as session:
        assert await runs_repo.request_cancel(session, run.id)
    await queue.cancel(run.id)

    assert queue.worker.in_flight == 0
    await queue.run_until_idle(timeout_s=5)
    done = await get_run(database, run.id)
    counts = await row_counts(database, run.id)
    assert done.status == "cancelled"
    assert "pending" not in counts
    assert done.completed < done.total
    assert done.completed + done.cancelled == done.total
    assert_counters_match_rows(done, counts)
    assert done.summary is not None and done.summary["stopped_reason"] == "cancelled"
    assert done.summary["completed"] == done.completed


async def test_a_cancel_made_elsewhere_is_noticed_by_the_worker(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue(poll_s=0.1)
    # An hour of latency: only the cancel can end these calls.
    await add_agent(database, "slow", config={"default": "ok", "latency_ms": 3_600_000})
    run = await add_run(database, "slow", 50, concurrency=5)
    await queue.enqueue(run.id, run.total)

    async def running() -> bool:
        return queue.worker.in_flight == 5

    await wait_until(running, what="five cases in flight")
    # Another API process cancels: this queue is not told, its poller must notice.
    async with database.write() as session:
        await runs_repo.request_cancel(session, run.id)

    async def stopped() -> bool:
        return queue.worker.in_flight == 0

    # The deadline only guards against a hang (the poller reads statuses every 0.1 s).
    took = await wait_until(stopped, timeout_s=60, what="in-flight cases to stop")
    print(f"\nin-flight cases stopped {took:.2f} s after a cancel made elsewhere")
    await queue.run_until_idle(timeout_s=60)
    done = await get_run(database, run.id)
    assert done.status == "cancelled"
    assert done.completed == 0
    assert_counters_match_rows(done, await row_counts(database, run.id))


async def test_cases_of_a_dead_worker_are_run_again_once_their_lease_runs_out(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue(reconcile_s=0.2)
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 10)
    # A worker takes five cases, then dies without a word.
    async with database.write() as session:
        taken = await leases_repo.claim_cases(session, run.id, "dead", lease_s=0.5, limit=5)
    assert len(taken) == 5

    await queue.enqueue(run.id, run.total)

    async def completed() -> bool:
        return (await get_run(database, run.id)).status == "completed"

    await wait_until(completed, what="the run to complete")
    done = await get_run(database, run.id)
    counts = await row_counts(database, run.id)
    assert counts == {"passed": 10}
    assert_counters_match_rows(done, counts)
    assert await duplicated_cases(database, run.id) == 0
    assert await results_count(database, "bot") == 10


async def test_reconciler_queues_runs_that_have_no_token(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "bot")
    run = await add_run(database, "bot", 120)  # stored, but its enqueue was lost

    assert await queue.reconcile_once() == 3
    assert await queue.reconcile_once() == 0  # it has tokens now
    await queue.run_until_idle(timeout_s=10)
    done = await get_run(database, run.id)
    assert done.status == "completed" and done.completed == 120


async def test_a_run_of_a_deleted_agent_fails_and_says_why(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "gone")
    run = await add_run(database, "gone", 30)
    async with database.write() as session:
        await agents_repo.delete_agent(session, "gone")

    await queue.enqueue(run.id, run.total)
    await queue.run_until_idle(timeout_s=10)

    done = await get_run(database, run.id)
    assert done.status == "failed"
    assert done.error is not None and "deleted" in done.error
    assert done.completed == 0
    assert done.finished_at is not None
    assert "running" not in await row_counts(database, run.id)


async def test_a_run_whose_agent_is_deleted_while_it_runs_fails_and_keeps_what_finished(
    database: Database, start_queue: StartQueue
) -> None:
    queue = await start_queue()
    await add_agent(database, "going", config={"default": "ok", "latency_ms": 20})
    run = await add_run(database, "going", 200, concurrency=1)
    await queue.enqueue(run.id, run.total)

    async def started() -> bool:
        return (await get_run(database, run.id)).completed >= 1

    await wait_until(started, what="the first case to finish")
    async with database.write() as session:
        await agents_repo.delete_agent(session, "going")
    await queue.run_until_idle(timeout_s=30)

    done = await get_run(database, run.id)
    assert done.status == "failed"
    assert done.error is not None and "was deleted while the run was in progress" in done.error
    assert 1 <= done.completed < 200
    assert done.summary is not None and done.summary["stopped_reason"] == "error"
    assert done.summary["completed"] == done.completed
    counts = await row_counts(database, run.id)
    assert "running" not in counts
    assert counts["passed"] == done.completed


async def test_a_run_whose_agent_is_deleted_during_its_last_case_fails_too(
    database: Database, start_queue: StartQueue
) -> None:
    # The poller is off: the run reaches its end, and is failed there instead of completed.
    queue = await start_queue(poll_s=3600)
    await add_agent(database, "going", config={"default": "ok", "latency_ms": 1500})
    run = await add_run(database, "going", 1)
    await queue.enqueue(run.id, run.total)

    async def claimed() -> bool:
        return (await row_counts(database, run.id)).get("running") == 1

    await wait_until(claimed, what="the case to be claimed")
    async with database.write() as session:
        await agents_repo.delete_agent(session, "going")
    await queue.run_until_idle(timeout_s=30)

    done = await get_run(database, run.id)
    assert done.status == "failed"
    assert done.error is not None and "deleted" in done.error
    assert done.completed == 1
    assert done.summary is not None and done.summary["stopped_reason"] == "error"


async def test_a_case_longer_than_its_lease_is_not_handed_out_again(
    database: Database, start_queue: StartQueue
) -> None:
    # The heartbeat must keep extending the lease, or the reconciler would give the case to
    # another chunk and the agent would be called twice.
    queue = await start_queue(lease_s=0.3, reconcile_s=0.1)
    async with start_mock_agent(latency_s=1.0) as mock:
        await add_agent(database, "slow", kind="http", config={"url": f"{mock.url}/agent"})
        run = await add_run(database, "slow", 4, expect="echo")
        await queue.enqueue(run.id, run.total)
        await queue.run_until_idle(timeout_s=10)
        calls = len(mock.requests)

    assert calls == 4
    done = await get_run(database, run.id)
    assert done.status == "completed"
    assert await row_counts(database, run.id) == {"passed": 4}
