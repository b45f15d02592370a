"""Reading results back: a run's by status and tag, an agent's newest first, runs in chunks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from tests.fakes.store_factories import make_case, make_result, scripted_agent

from aifactory.domain.runs import RUN_STATUSES, NewRun
from aifactory.errors import NotFound
from aifactory.store import agents_repo, leases_repo, results_repo, runs_repo
from aifactory.store.database import Database
from aifactory.store.tables import utcnow

pytest_plugins = ["tests.fakes.databases"]


async def _finished_run(database: Database, statuses: list[str], tags: list[list[str]]) -> str:
    async with database.write() as session:
        if (await agents_repo.list_agents(session)).total == 0:
            await agents_repo.create_agent(session, scripted_agent("bot"))
        cases = [make_case(i, tags=t) for i, t in enumerate(tags)]
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), cases
        )
        claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=100)
        for case, status in zip(claimed, statuses, strict=True):
            await leases_repo.complete_case(
                session, case.result_id, "w", make_result(case.test_case, status)
            )
    return run.id


async def test_run_results_filter_by_status_and_tag(database: Database) -> None:
    run_id = await _finished_run(
        database,
        ["passed", "failed", "error", "failed"],
        [["billing"], ["billing", "refunds"], [], ["bill_ing"]],
    )
    async with database.session() as session:
        every = await results_repo.list_run_results(session, run_id)
        failed = await results_repo.list_run_results(session, run_id, status="failed")
        billing = await results_repo.list_run_results(session, run_id, tag="billing")
        failed_refunds = await results_repo.list_run_results(
            session, run_id, status="failed", tag="refunds"
        )
        page_two = await results_repo.list_run_results(session, run_id, limit=2, offset=2)
        with pytest.raises(ValueError, match="passed, failed or error"):
            await results_repo.list_run_results(session, run_id, status="pending")
    assert every.total == 4 and [r.case_index for r in every.items] == [0, 1, 2, 3]
    assert (failed.total, [r.case_index for r in failed.items]) == (2, [1, 3])
    # "_" is a LIKE wildcard: the tag "bill_ing" must not match "billing" or vice versa.
    assert (billing.total, [r.case_index for r in billing.items]) == (2, [0, 1])
    assert [r.case_index for r in failed_refunds.items] == [1]
    assert [r.case_index for r in page_two.items] == [2, 3] and page_two.total == 4


async def test_results_round_trip_every_field(database: Database) -> None:
    run_id = await _finished_run(database, ["error"], [["x"]])
    async with database.session() as session:
        [stored] = (await results_repo.list_run_results(session, run_id)).items
    expected = make_result(make_case(0, tags=["x"]), "error")
    assert stored.model_dump(
        exclude={"id", "run_id", "agent_id", "agent_version", "created_at"}
    ) == (expected.model_dump(exclude={"id", "run_id", "agent_id", "agent_version", "created_at"}))
    assert (stored.run_id, stored.agent_id, stored.agent_version) == (run_id, "bot", 1)
    assert stored.created_at is not None and stored.created_at.tzinfo is not None


async def test_agent_history_is_newest_first_over_runs_and_counts_only_finished(
    database: Database,
) -> None:
    first = await _finished_run(database, ["passed", "failed"], [[], []])
    async with database.write() as session:
        unfinished = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(9)]
        )
    second = await _finished_run(database, ["error"], [[]])
    async with database.session() as session:
        history = await results_repo.list_agent_results(session, "bot", limit=10)
        newest = await results_repo.list_agent_results(session, "bot", limit=1)
        past_the_end = await results_repo.list_agent_results(session, "bot", offset=3)
        with pytest.raises(NotFound):
            await results_repo.list_agent_results(session, "ghost")
    assert history.total == 3
    assert (past_the_end.items, past_the_end.total) == ([], 3)
    assert [r.run_id for r in history.items] == [second, first, first]
    assert unfinished.id not in {r.run_id for r in history.items}
    stamps = [r.created_at for r in history.items]
    assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]
    assert [r.run_id for r in newest.items] == [second] and newest.total == 3


async def test_agent_history_orders_by_finish_time_not_by_insertion(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id="bot", agent_version=1), [make_case(i) for i in range(3)]
        )
        claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=3)
        base = utcnow()
        # Finish case 1 last, case 0 first.
        for case, minutes in zip(claimed, [0, 5, 2], strict=True):
            await leases_repo.complete_case(
                session, case.result_id, "w", make_result(case.test_case),
                now=base + timedelta(minutes=minutes),
            )  # fmt: skip
    async with database.session() as session:
        history = await results_repo.list_agent_results(session, "bot")
    assert [r.case_index for r in history.items] == [1, 2, 0]


async def test_whole_run_is_read_in_chunks_in_case_order(database: Database) -> None:
    run_id = await _finished_run(database, ["passed"] * 25, [[]] * 25)
    async with database.session() as session:
        chunks = [c async for c in results_repo.iter_run_results(session, run_id, chunk_size=10)]
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [r.case_index for c in chunks for r in c] == list(range(25))


@pytest.mark.parametrize("writer", ["write", "write_statement"])
async def test_a_synchronous_result_is_recorded_as_a_finished_one_case_run(
    database: Database, writer: str
) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
    async with getattr(database, writer)() as session:
        stored = await results_repo.record_result(
            session, NewRun(agent_id="bot", agent_version=1), make_result(make_case(0))
        )
    assert stored.id is not None and stored.run_id is not None
    async with database.session() as session:
        run = await runs_repo.get_run(session, stored.run_id)
        history = await results_repo.list_agent_results(session, "bot")
        executed = await runs_repo.cases_executed_total(session)
    async with database.session(snapshot=False) as session:
        statuses, counted = await runs_repo.run_counts(session)
    assert (run.status, run.total, run.passed) == ("completed", 1, 1)
    assert [r.id for r in history.items] == [stored.id]
    assert executed == counted == 1
    assert statuses == {**dict.fromkeys(RUN_STATUSES, 0), "completed": 1}


@pytest.mark.parametrize("writer", ["write", "write_statement"])
async def test_a_synchronous_result_for_a_deleted_agent_is_refused_and_nothing_is_kept(
    database: Database, writer: str
) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
    async with database.write() as session:
        await agents_repo.delete_agent(session, "bot")
    with pytest.raises(NotFound):
        async with getattr(database, writer)() as session:
            await results_repo.record_result(
                session, NewRun(agent_id="bot", agent_version=1), make_result(make_case(0))
            )
    async with database.session() as session:
        runs = await runs_repo.list_runs(session, agent_id="bot")
        executed = await runs_repo.cases_executed_total(session)
        orphans = await session.execute(text("SELECT COUNT(*) FROM results"))
    assert (runs.total, executed, orphans.scalar_one()) == (0, 0, 0)
