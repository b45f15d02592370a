"""Labels and the review queue's strategies in the store, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from tests.fakes.review_data import RUBRIC, Judged, ensure_agent, judged_run, planted_results

from aifactory.domain.models import TestResult
from aifactory.domain.review import judged_check, uncertainty
from aifactory.domain.runs import NewRun, Run
from aifactory.store import labels_repo, leases_repo, results_repo, review_repo, runs_repo
from aifactory.store.database import Database
from aifactory.store.tables import utcnow

pytest_plugins = ["tests.fakes.databases"]

AGENT = "bot"


async def label(
    db: Database, result_id: str, passed: bool, reviewer: str = "alice", check: int | None = None
) -> None:
    async with db.write() as session:
        result = await results_repo.get_result(session, result_id)
        run = await runs_repo.get_run(session, result.run_id or "")
        await labels_repo.add_label(
            session,
            result,
            suite_id=run.suite_id,
            check=check,
            judged=judged_check(result, check),
            passed=passed,
            score=None,
            comment=None,
            reviewer=reviewer,
            api_key_id=f"key-{reviewer}",
        )


async def test_a_label_keeps_what_it_is_measured_against(database: Database) -> None:
    run = await judged_run(database, AGENT, [Judged("a", 0.3, extra_check=True)])
    await label(database, run.result_ids[0], True)
    await label(database, run.result_ids[0], False, check=0)  # 'contains': no judge
    async with database.session() as session:
        votes = await labels_repo.agreement_votes(session, agent_id=AGENT)
        listed = await labels_repo.list_labels(session, run.result_ids[0])
    (vote,) = votes
    assert (vote.target, vote.check_type, vote.criterion, vote.judge_passed) == (
        1,
        "llm_rubric",
        RUBRIC,
        False,
    )
    assert [(lb.check, lb.passed, lb.reviewer) for lb in listed] == [
        (None, True, "alice"),
        (0, False, "alice"),
    ]


async def test_agreement_votes_filter_by_agent_suite_and_check_type(database: Database) -> None:
    mine = await judged_run(database, AGENT, [Judged("a", 0.9)], suite_id="refunds")
    other = await judged_run(database, "other", [Judged("b", 0.9)])
    await label(database, mine.result_ids[0], True)
    await label(database, other.result_ids[0], True)
    async with database.session() as session:
        assert len(await labels_repo.agreement_votes(session)) == 2
        assert len(await labels_repo.agreement_votes(session, agent_id=AGENT)) == 1
        assert len(await labels_repo.agreement_votes(session, suite_id="refunds")) == 1
        assert await labels_repo.agreement_votes(session, check_type="factuality") == []


async def test_unlabeled_reads_newest_first_or_in_case_order(database: Database) -> None:
    first = await judged_run(database, AGENT, [Judged(f"old {i}", 0.9) for i in range(3)])
    second = await judged_run(database, AGENT, [Judged(f"new {i}", 0.9) for i in range(3)])
    await label(database, second.result_ids[2], True)
    async with database.session() as session:
        by_run = await review_repo.unlabeled(session, run_id=first.run_id, agent_id=None, limit=10)
        by_agent = await review_repo.unlabeled(session, run_id=None, agent_id=AGENT, limit=3)
    assert [i.test_case.name for i in by_run] == ["old 0", "old 1", "old 2"]
    assert [i.test_case.name for i in by_agent] == ["new 1", "new 0", "old 2"]


async def test_uncertain_finds_the_unsure_results_past_any_number_of_sure_ones(
    database: Database,
) -> None:
    # 450 sure results, then (last in case order) two the judge was unsure of.
    cases = [Judged(f"sure {i}", 0.95) for i in range(450)]
    cases += [Judged("near", 0.6), Judged("split", 0.95, samples=[0.1, 0.95, 0.99])]
    run = await judged_run(database, AGENT, cases)
    async with database.session() as session:
        found = await review_repo.uncertain(
            session, run_id=run.run_id, agent_id=None, limit=5, reviewer="alice"
        )
        first = await review_repo.uncertain(
            session, run_id=run.run_id, agent_id=None, limit=1, reviewer="alice"
        )
    assert [i.test_case.name for i in found] == ["near", "split"]
    assert [i.test_case.name for i in first] == ["near"]
    await label(database, run.result_ids[450], True, reviewer="alice")
    async with database.session() as session:
        for_alice = await review_repo.uncertain(
            session, run_id=run.run_id, agent_id=None, limit=5, reviewer="alice"
        )
        for_bob = await review_repo.uncertain(
            session, run_id=run.run_id, agent_id=None, limit=5, reviewer="bob"
        )
    assert [i.test_case.name for i in for_alice] == ["split"]
    assert [i.test_case.name for i in for_bob] == ["near", "split"]
    assert for_bob[0].review is not None and for_bob[0].review.passed is True


async def _write_through_the_workers_path(database: Database, results: list[TestResult]) -> Run:
    """A run of ``results``' cases, claimed and completed a few at a time, each batch later."""
    await ensure_agent(database, AGENT)
    async with database.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session, NewRun(agent_id=AGENT, agent_version=1), [r.test_case for r in results]
        )
    start = utcnow()
    batch = 0
    while True:
        async with database.write() as session:
            claimed = await leases_repo.claim_cases(session, run.id, "w", lease_s=30, limit=7)
            if not claimed:
                return run
            recorded = await leases_repo.complete_many(
                session,
                "w",
                [(case.result_id, results[case.case_index]) for case in claimed],
                now=start + timedelta(seconds=batch),
            )
        assert all(recorded)
        batch += 1


async def _uncertain_as_the_queue_decided_it(
    database: Database, *, run_id: str | None, reviewer: str
) -> list[tuple[str, str]]:
    """What the uncertain queue answered when it read every result and applied the rule itself:
    finished passed or failed results, newest first (a run's in case order), that ``reviewer``
    has not labeled and on which :func:`uncertainty` has a reason."""
    async with database.session() as session:
        if run_id is not None:
            results = [r async for chunk in results_repo.iter_run_results(session, run_id)
                       for r in chunk]  # fmt: skip
        else:
            page = await results_repo.list_agent_results(session, AGENT, limit=100_000)
            results = page.items
        labels = await labels_repo.labels_of(session, [r.id or "" for r in results])
    return [
        (r.id or "", reason)
        for r in results
        if r.status in ("passed", "failed")
        and not any(lb.reviewer == reviewer for lb in labels.get(r.id or "", []))
        and (reason := uncertainty(r)) is not None
    ]


async def test_uncertain_answers_as_the_rule_read_on_every_result_did(database: Database) -> None:
    """The flag written with each result, read by index, gives the queue it always gave."""
    planted = planted_results()
    older = await _write_through_the_workers_path(database, planted[:120])
    newer = await _write_through_the_workers_path(database, planted[120:])
    unsure = [r for r in planted if uncertainty(r) is not None and r.status != "error"]
    assert len(unsure) > 40  # the planted data has something to find
    async with database.session() as session:
        mine = await review_repo.uncertain(
            session, run_id=None, agent_id=AGENT, limit=100, reviewer="alice"
        )
    for item in mine[:25:3]:  # alice labels some of them
        await label(database, item.id or "", True, reviewer="alice")

    for run_id in (None, older.id, newer.id):
        for reviewer in ("alice", "bob"):
            expected = await _uncertain_as_the_queue_decided_it(
                database, run_id=run_id, reviewer=reviewer
            )
            for limit in (1, 7, 100):
                async with database.session() as session:
                    found = await review_repo.uncertain(
                        session,
                        run_id=run_id,
                        agent_id=AGENT if run_id is None else None,
                        limit=limit,
                        reviewer=reviewer,
                    )
                assert [(i.id, i.review_reason) for i in found] == expected[:limit]
    assert len(await _uncertain_as_the_queue_decided_it(database, run_id=None, reviewer="bob")) == (
        len(unsure)
    )


async def test_disputed_confirms_on_the_latest_labels(database: Database) -> None:
    run = await judged_run(
        database, AGENT, [Judged("a", 0.9), Judged("b", 0.9), Judged("c", 0.1), Judged("d", 0.1)]
    )
    await label(database, run.result_ids[0], False)  # contradicts
    await label(database, run.result_ids[1], False)
    await label(database, run.result_ids[1], True)  # ... no longer
    await label(database, run.result_ids[2], True, reviewer="bob")  # contradicts (judge failed)
    await label(database, run.result_ids[3], False)  # agrees
    async with database.session() as session:
        everyone = await review_repo.disputed(
            session, run_id=None, agent_id=AGENT, limit=10, reviewer="carol"
        )
        not_bobs = await review_repo.disputed(
            session, run_id=run.run_id, agent_id=None, limit=10, reviewer="bob"
        )
    assert [i.test_case.name for i in everyone] == ["c", "a"]  # most recently labeled first
    assert everyone[0].review_reason == "bob passed what the judge failed (check 0, llm_rubric)"
    assert [i.test_case.name for i in not_bobs] == ["a"]


async def test_reviews_and_run_verdicts(database: Database) -> None:
    run = await judged_run(database, AGENT, [Judged("a", 0.9), Judged("b", 0.9), Judged("c", 0.1)])
    await label(database, run.result_ids[0], False, reviewer="alice")
    await label(database, run.result_ids[0], False, reviewer="bob")
    await label(database, run.result_ids[0], True, reviewer="carol")
    await label(database, run.result_ids[1], True, reviewer="alice")
    await label(database, run.result_ids[1], False, reviewer="bob")  # a tie
    await label(database, run.result_ids[2], False, reviewer="alice", check=0)  # check-level only
    async with database.session() as session:
        reviews = await labels_repo.reviews_of(session, run.result_ids)
        verdicts = sorted(await labels_repo.run_verdicts(session, run.run_id), key=str)
        run_record = await labels_repo.with_run_review(
            session, await runs_repo.get_run(session, run.run_id)
        )
    assert {k: (v.labels, v.passed) for k, v in reviews.items()} == {
        run.result_ids[0]: (3, False),
        run.result_ids[1]: (2, None),
        run.result_ids[2]: (1, None),
    }
    assert verdicts == sorted([(True, False), (True, None)], key=str)
    assert run_record.summary is not None
    assert run_record.summary["review"] == {
        "labeled": 1,
        "human_pass_rate": 0.0,
        "judge_pass_rate": 1.0,
    }


async def test_listings_read_labels_only_of_what_was_labeled(database: Database) -> None:
    run = await judged_run(database, AGENT, [Judged("a", 0.9), Judged("b", 0.9), Judged("c", 0.1)])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with database.session() as session:
            record = await runs_repo.get_run(session, run.run_id, review=True)
            page = await results_repo.list_run_results(session, run.run_id, reviews=True)
            history = await results_repo.list_agent_results(session, AGENT, reviews=True)
        # Nobody labeled anything: no statement reads the labels table on its own.
        assert not [s for s in statements if s.lstrip().startswith("SELECT labels")]
        assert "review" not in (record.summary or {})
        assert [r.review for r in page.items + history.items] == [None] * 6
        await label(database, run.result_ids[1], False, reviewer="alice")
        await label(database, run.result_ids[2], True, reviewer="alice", check=0)
        statements.clear()
        async with database.session() as session:
            record = await runs_repo.get_run(session, run.run_id, review=True)
            page = await results_repo.list_run_results(session, run.run_id, reviews=True)
            history = await results_repo.list_agent_results(session, AGENT, reviews=True)
            bare = await results_repo.list_run_results(session, run.run_id)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert record.summary is not None
    assert record.summary["review"] == {
        "labeled": 1,
        "human_pass_rate": 0.0,
        "judge_pass_rate": 1.0,
    }
    assert [(r.review.labels, r.review.passed) if r.review else None for r in page.items] == [
        None,
        (1, False),
        (1, None),
    ]
    assert {r.id: r.review for r in history.items} == {r.id: r.review for r in page.items}
    assert [r.review for r in bare.items] == [None] * 3
    # The run's verdicts, then the labels of the two labeled results for each page.
    label_reads = [s for s in statements if s.lstrip().startswith("SELECT labels.id")]
    assert len(label_reads) == 3
    assert [s.count("?") + s.count("$") for s in label_reads[1:]] == [2, 2]
