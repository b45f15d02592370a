"""Runs: bulk creation of pending cases, status transitions, cancel, resume after restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.fakes.store_factories import make_case, make_result, scripted_agent

from aifactory.domain.models import TestCase
from aifactory.domain.runs import RUN_STATUSES, NewRun
from aifactory.errors import NotFound
from aifactory.store import agents_repo, leases_repo, runs_repo, suites_repo
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


async def _agent(database: Database, agent_id: str = "bot") -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent(agent_id))


async def test_ten_thousand_cases_are_stored_in_one_bulk_transaction(database: Database) -> None:
    await _agent(database)
    cases = (make_case(i) for i in range(10_000))
    started = time.perf_counter()
    async with database.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1, name="big"), cases
        )
    elapsed = time.perf_counter() - started
    print(f"\n10,000 pending rows on {database.backend}: {elapsed:.2f} s")
    assert (run.status, run.total, run.completed, run.progress) == ("queued", 10_000, 0, 0.0)
    async with database.session() as session:
        claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=3)
    assert [(c.case_index, c.test_case.name) for c in claimed] == [
        (0, "case 0"), (1, "case 1"), (2, "case 2"),
    ]  # fmt: skip


async def test_a_failed_creation_leaves_nothing_behind(database: Database) -> None:
    await _agent(database)

    def cases_then_crash() -> Iterator[TestCase]:
        yield from (make_case(i) for i in range(1500))
        raise RuntimeError("the request body broke off")

    with pytest.raises(RuntimeError):
        async with database.write() as session:
            await runs_repo.create_run_with_pending_results(
                session, NewRun(agent_id="bot", agent_version=1), cases_then_crash()
            )
    async with database.session() as session:
        assert (await runs_repo.list_runs(session)).total == 0


async def test_repeat_and_suite_cases_make_cases_times_repeats(database: Database) -> None:
    await _agent(database)
    async with database.write() as session:
        await suites_repo.create_suite(
            session, id="s", name="S", cases=[make_case(i) for i in range(5)]
        )
        run = await runs_repo.create_run_with_pending_results(
            session,
            NewRun(agent_id="bot", agent_version=1, suite_id="s", suite_version=1, repeat=3),
            suites_repo.iter_suite_cases(session, "s"),
        )
    assert run.total == 15


async def test_unknown_agent_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound):
        async with database.write() as session:
            await runs_repo.create_run_with_pending_results(
                session, NewRun(agent_id="ghost", agent_version=1), [make_case(0)]
            )


async def test_status_moves_forward_only_and_completes_when_every_case_finished(
    database: Database,
) -> None:
    await _agent(database)
    async with database.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(0), make_case(1)]
        )
    async with database.write() as session:
        assert await runs_repo.mark_running(session, run.id)
        assert not await runs_repo.mark_running(session, run.id)
        claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=10)
        await leases_repo.complete_case(
            session, claimed[0].result_id, "w", make_result(make_case(0))
        )
        assert not await leases_repo.finish_run_if_done(session, run.id)
        await leases_repo.complete_case(
            session, claimed[1].result_id, "w", make_result(make_case(1), "error")
        )
        assert await leases_repo.finish_run_if_done(session, run.id)
        assert not await runs_repo.set_run_status(session, run.id, "failed", error="late")
    async with database.session() as session:
        done = await runs_repo.get_run(session, run.id)
    assert (done.status, done.completed, done.passed, done.errored) == ("completed", 2, 1, 1)
    assert done.remaining == 0 and done.progress == 1.0
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at >= done.created_at
    assert done.error is None


async def test_failed_run_keeps_its_reason_and_summary(database: Database) -> None:
    await _agent(database)
    async with database.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(0)]
        )
        assert await runs_repo.set_run_status(
            session, run.id, "failed", error="The agent was deleted.", summary={"total": 1}
        )
    async with database.session() as session:
        failed = await runs_repo.get_run(session, run.id)
    assert (failed.status, failed.error, failed.summary) == (
        "failed", "The agent was deleted.", {"total": 1},
    )  # fmt: skip


async def test_cancel_stops_pending_and_in_flight_cases(database: Database) -> None:
    await _agent(database)
    async with database.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(i) for i in range(10)]
        )
    async with database.write() as session:
        claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=3)
        await leases_repo.complete_case(
            session, claimed[0].result_id, "w", make_result(make_case(0))
        )
    async with database.write() as session:
        assert await runs_repo.request_cancel(session, run.id)
    async with database.write() as session:
        assert not await runs_repo.request_cancel(session, run.id)
        # The worker still running case 1 finishes after the cancel: nothing is recorded.
        late = await leases_repo.complete_case(
            session, claimed[1].result_id, "w", make_result(make_case(1))
        )
        assert late is False
        assert await leases_repo.claim_cases(session, run.id, "w2", lease_s=30, limit=10) == []
        assert not await leases_repo.finish_run_if_done(session, run.id)
    async with database.session() as session:
        cancelled = await runs_repo.get_run(session, run.id)
        statuses = await runs_repo.run_status_counts(session)
    assert (cancelled.status, cancelled.completed, cancelled.cancelled) == ("cancelled", 1, 9)
    assert cancelled.finished_at is not None
    assert statuses["cancelled"] == 1 and statuses["queued"] == 0
    async with database.session(snapshot=False) as session:
        assert await runs_repo.run_counts(session) == (statuses, 1)


async def test_run_counts_of_an_empty_database_are_zeros(database: Database) -> None:
    async with database.session(snapshot=False) as session:
        assert await runs_repo.run_counts(session) == (dict.fromkeys(RUN_STATUSES, 0), 0)


async def _one_case_runs(database: Database, agent_ids: list[str]) -> list[str]:
    """A queued one-case run for each of ``agent_ids`` (each agent created once); their ids."""
    for agent_id in dict.fromkeys(agent_ids):
        await _agent(database, agent_id)
    ids = []
    for agent_id in agent_ids:
        async with database.write() as session:
            run = await runs_repo.create_run_with_pending_results(
                session, NewRun(agent_id=agent_id, agent_version=1), [make_case(0)]
            )
            ids.append(run.id)
    return ids


async def test_runs_in_flight_are_listed_for_resume_and_filters_work(database: Database) -> None:
    ids = await _one_case_runs(database, ["a", "a", "b"])
    async with database.write() as session:
        await runs_repo.mark_running(session, ids[1])
        await runs_repo.request_cancel(session, ids[2])
    async with database.session() as session:
        in_flight = await runs_repo.runs_in_flight(session)
        of_a = await runs_repo.list_runs(session, agent_id="a")
        running = await runs_repo.list_runs(session, status="running")
        newest = await runs_repo.list_runs(session, limit=1)
    assert [(r.id, r.status) for r in in_flight] == [(ids[0], "queued"), (ids[1], "running")]
    assert of_a.total == 2 and {r.id for r in of_a.items} == set(ids[:2])
    assert [r.id for r in running.items] == [ids[1]]
    assert newest.total == 3 and newest.items[0].id == ids[2]


async def test_run_liveness_says_what_a_worker_must_stop(database: Database) -> None:
    ids = await _one_case_runs(database, ["kept", "kept", "gone"])
    async with database.write() as session:
        await runs_repo.mark_running(session, ids[0])
        await runs_repo.request_cancel(session, ids[1])
        await agents_repo.delete_agent(session, "gone")
    async with database.session() as session:
        found = await runs_repo.run_liveness(session, [*ids, "no-such-run"])
        assert await runs_repo.run_liveness(session, []) == {}
    assert found == {
        ids[0]: ("running", "kept", True),
        ids[1]: ("cancelled", "kept", True),
        ids[2]: ("queued", "gone", False),
    }
