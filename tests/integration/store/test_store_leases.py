"""Leases: claimers never share a case, results are written once, lost cases come back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text
from tests.fakes.store_factories import make_case, make_result, scripted_agent

from aifactory.domain.runs import NewRun, Run
from aifactory.store import agents_repo, leases_repo, results_repo, runs_repo
from aifactory.store.database import Database
from aifactory.store.tables import utcnow

pytest_plugins = ["tests.fakes.databases"]


async def _run(database: Database, n: int) -> Run:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        return await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(i) for i in range(n)]
        )


async def _row_counts(database: Database, run_id: str) -> dict[str, int]:
    async with database.session() as session:
        rows = await session.execute(
            text("SELECT status, COUNT(*) FROM results WHERE run_id = :r GROUP BY status"),
            {"r": run_id},
        )
        return {status: int(n) for status, n in rows}


async def _drain(db: Database, run_id: str, owner: str) -> list[int]:
    """Claim and complete cases in small batches until none are left; the case indexes taken."""
    taken: list[int] = []
    while True:
        async with db.write() as session:
            claimed = await leases_repo.claim_cases(session, run_id, owner, lease_s=30, limit=7)
        if not claimed:
            return taken
        for case in claimed:
            taken.append(case.case_index)
            await asyncio.sleep(0)  # let the other claimers interleave
            async with db.write() as session:
                recorded = await leases_repo.complete_case(
                    session, case.result_id, owner, make_result(case.test_case)
                )
            assert recorded, f"{owner} lost case {case.case_index} it had claimed"


async def test_concurrent_claimers_on_several_connections_never_share_a_case(
    database: Database, database_url: str
) -> None:
    run = await _run(database, 200)
    # A second Database is a second process as far as the database can tell: on PostgreSQL its
    # own connections, on SQLite its own writer lock, left to SQLite's locking.
    other = Database.from_url(database_url)
    try:
        owners = [(database, f"w{i}") for i in range(3)] + [(other, f"x{i}") for i in range(3)]
        taken = await asyncio.gather(*(_drain(db, run.id, owner) for db, owner in owners))
    finally:
        await other.dispose()
    every = sorted(i for worker in taken for i in worker)
    assert every == list(range(200))
    assert sum(1 for worker in taken if worker) >= 2
    async with database.write() as session:
        assert await leases_repo.finish_run_if_done(session, run.id)
        done = await runs_repo.get_run(session, run.id)
    assert (done.status, done.completed, done.passed) == ("completed", 200, 200)


async def test_second_completion_is_refused_and_counters_do_not_move(database: Database) -> None:
    run = await _run(database, 2)
    async with database.write() as session:
        [case, _] = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=2)
    async with database.write() as session:
        assert await leases_repo.complete_case(
            session, case.result_id, "w", make_result(case.test_case, "failed")
        )
    async with database.write() as session:
        again = await leases_repo.complete_case(
            session, case.result_id, "w", make_result(case.test_case, "passed", output="second")
        )
    assert again is False
    async with database.session() as session:
        counts = await runs_repo.get_run(session, run.id)
        stored = await results_repo.get_result(session, case.result_id)
        history = await results_repo.list_agent_results(session, "bot")
    assert (counts.completed, counts.passed, counts.failed) == (1, 0, 1)
    assert (stored.status, stored.output) == ("failed", "ok")
    assert history.total == 1


async def test_expired_lease_is_reclaimed_and_the_old_owner_can_no_longer_complete(
    database: Database,
) -> None:
    run = await _run(database, 1)
    async with database.write() as session:
        [first] = await leases_repo.claim_cases(session, run.id, "dead", lease_s=30, limit=1)
    async with database.write() as session:
        # Within the lease nobody else gets the case.
        assert await leases_repo.claim_cases(session, run.id, "live", lease_s=30, limit=1) == []
    later = utcnow() + timedelta(seconds=31)
    async with database.session() as session:
        expired = await leases_repo.expired_leases(session, now=later)
    assert [(e.result_id, e.lease_owner) for e in expired] == [(first.result_id, "dead")]
    async with database.write() as session:
        [second] = await leases_repo.claim_cases(
            session, run.id, "live", lease_s=30, limit=1, now=later
        )
    assert (second.result_id, second.attempts) == (first.result_id, 2)
    async with database.write() as session:
        assert not await leases_repo.complete_case(
            session, first.result_id, "dead", make_result(first.test_case)
        )
        assert await leases_repo.complete_case(
            session, second.result_id, "live", make_result(second.test_case)
        )


async def test_a_case_whose_workers_keep_dying_is_given_up_as_an_error(database: Database) -> None:
    run = await _run(database, 1)
    when = utcnow()
    for attempt in range(3):
        async with database.write() as session:
            claimed = await leases_repo.claim_cases(
                session, run.id, f"w{attempt}", lease_s=1, limit=1, max_attempts=3, now=when
            )
        assert len(claimed) == 1
        when += timedelta(seconds=2)
    async with database.write() as session:
        assert (
            await leases_repo.claim_cases(
                session, run.id, "w9", lease_s=1, limit=1, max_attempts=3, now=when
            )
            == []
        )
        assert await leases_repo.finish_run_if_done(session, run.id)
    async with database.session() as session:
        done = await runs_repo.get_run(session, run.id)
        page = await results_repo.list_run_results(session, run.id)
    assert (done.status, done.errored) == ("completed", 1)
    assert page.items[0].status == "error"
    assert "claimed 3 times" in (page.items[0].error or "")


async def test_released_cases_go_back_to_pending_and_leases_can_be_extended(
    database: Database,
) -> None:
    run = await _run(database, 4)
    async with database.write() as session:
        mine = await leases_repo.claim_cases(session, run.id, "w", lease_s=5, limit=2)
        held = await leases_repo.extend_leases(
            session, [c.result_id for c in mine], "w", lease_s=300
        )
        assert held == 2
        assert (
            await leases_repo.extend_leases(session, [mine[0].result_id], "other", lease_s=1) == 0
        )
    async with database.session() as session:
        soon = utcnow() + timedelta(seconds=60)
        assert await leases_repo.expired_leases(session, now=soon) == []
    async with database.write() as session:
        assert await leases_repo.release_cases(session, "w") == 2
        again = await leases_repo.claim_cases(session, run.id, "v", lease_s=5, limit=10)
    assert sorted(c.case_index for c in again) == [0, 1, 2, 3]


async def test_a_restarted_embedded_service_requeues_what_its_old_process_held(
    database: Database,
) -> None:
    run = await _run(database, 3)
    async with database.write() as session:
        await runs_repo.mark_running(session, run.id)
        await leases_repo.claim_cases(session, run.id, "old-process", lease_s=30, limit=2)
    async with database.write() as session:
        in_flight = await runs_repo.runs_in_flight(session)
        assert [r.id for r in in_flight] == [run.id]
        assert await leases_repo.requeue_running_cases(session) == 2
        resumed = await leases_repo.claim_cases(session, run.id, "new", lease_s=30, limit=10)
    assert [(c.case_index, c.attempts) for c in resumed] == [(0, 2), (1, 2), (2, 1)]


async def test_release_all_claims_gives_back_every_owners_cases(database: Database) -> None:
    run = await _run(database, 5)
    async with database.write() as session:
        await leases_repo.claim_cases(session, run.id, "a", lease_s=30, limit=2)
        await leases_repo.claim_cases(session, run.id, "b", lease_s=30, limit=2)
    assert await leases_repo.release_all_claims(database) == 4
    assert await leases_repo.release_all_claims(database) == 0
    assert await _row_counts(database, run.id) == {"pending": 5}


async def test_leases_are_extended_however_many_a_worker_holds(database: Database) -> None:
    run = await _run(database, 1200)
    async with database.write() as session:
        mine = await leases_repo.claim_cases(session, run.id, "w", lease_s=5, limit=1200)
        held = await leases_repo.extend_leases(
            session, [c.result_id for c in mine], "w", lease_s=300
        )
        assert await leases_repo.extend_leases(session, [], "w", lease_s=300) == 0
    assert held == 1200
    async with database.session() as session:
        assert await leases_repo.expired_leases(session, now=utcnow() + timedelta(seconds=60)) == []


async def test_complete_many_records_owned_cases_once_and_counts_them(database: Database) -> None:
    run = await _run(database, 6)
    async with database.write() as session:
        mine = await leases_repo.claim_cases(session, run.id, "me", lease_s=60, limit=4)
        theirs = await leases_repo.claim_cases(session, run.id, "other", lease_s=60, limit=1)
    case = make_case(0)
    items = [
        (mine[0].result_id, make_result(case, "passed")),
        (mine[1].result_id, make_result(case, "failed")),
        (mine[2].result_id, make_result(case, "error")),
        (mine[2].result_id, make_result(case, "passed")),  # named twice: recorded once
        (theirs[0].result_id, make_result(case, "passed")),  # another worker's claim
    ]
    async with database.write() as session:
        recorded = await leases_repo.complete_many(session, "me", items)
    assert recorded == [True, True, True, False, False]

    async with database.write() as session:  # a redelivery of the same results
        again = await leases_repo.complete_many(session, "me", items[:3])
    assert again == [False, False, False]

    async with database.session() as session:
        done = await runs_repo.get_run(session, run.id)
        history = await results_repo.list_agent_results(session, "bot")
    assert (done.completed, done.passed, done.failed, done.errored) == (3, 1, 1, 1)
    assert await _row_counts(database, run.id) == {
        "passed": 1,
        "failed": 1,
        "error": 1,
        "running": 2,
        "pending": 1,
    }
    assert history.total == 3


async def test_complete_many_writes_nothing_for_a_cancelled_run(database: Database) -> None:
    run = await _run(database, 3)
    async with database.write() as session:
        claimed = await leases_repo.claim_cases(session, run.id, "me", lease_s=60, limit=3)
    async with database.write() as session:
        await runs_repo.request_cancel(session, run.id)
    async with database.write() as session:
        recorded = await leases_repo.complete_many(
            session, "me", [(c.result_id, make_result(c.test_case)) for c in claimed]
        )
    assert recorded == [False, False, False]
    async with database.session() as session:
        assert (await runs_repo.get_run(session, run.id)).completed == 0
    assert await _row_counts(database, run.id) == {"cancelled": 3}


async def test_a_run_is_finished_once_with_its_summary(database: Database) -> None:
    run = await _run(database, 1)
    async with database.write() as session:
        [case] = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=1)
        assert not await leases_repo.finish_run_if_done(session, run.id, summary={"total": 1})
        await leases_repo.complete_case(session, case.result_id, "w", make_result(case.test_case))
        assert await leases_repo.finish_run_if_done(session, run.id, summary={"total": 1})
        assert not await leases_repo.finish_run_if_done(session, run.id, summary={"total": 9})
    async with database.session() as session:
        done = await runs_repo.get_run(session, run.id)
    assert (done.status, done.summary) == ("completed", {"total": 1})
    assert done.started_at is not None and done.finished_at is not None
