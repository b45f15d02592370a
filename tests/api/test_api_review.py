"""Human review through the SDK on both databases: labels, reviews, the queue, agreement, export."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.fakes.review_data import RUBRIC, Judged, judged_run
from tests.fakes.service import Service

from aifactory.client import APIStatusError, AsyncClient
from aifactory.domain.suites.loader import parse_suite
from aifactory.store.database import Database

AGENT = "support-bot"


async def reviewer(service: Service, name: str, scopes: list[str] | None = None) -> AsyncClient:
    created = await service.client.create_key(name, scopes=scopes or ["read", "write"])
    return service.sdk(created.key)


async def test_a_label_is_stored_listed_and_shown_on_its_result(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, [Judged("refund", 0.9), Judged("late", 0.2)])
    alice = await reviewer(service, "alice")
    async with alice:
        label = await alice.add_label(run.result_ids[0], passed=False, score=0.3, comment="Wrong.")
    assert (label.result_id, label.check, label.passed, label.score) == (
        run.result_ids[0],
        None,
        False,
        0.3,
    )
    assert (label.comment, label.reviewer) == ("Wrong.", "alice")

    raw = await service.http.post(
        f"/api/v1/results/{run.result_ids[0]}/labels", json={"passed": True, "check": 0}
    )
    assert raw.status_code == 201
    assert set(raw.json()) == {
        "id", "result_id", "check", "passed", "score", "comment", "reviewer", "created_at"
    }  # fmt: skip

    listed = await service.client.list_labels(run.result_ids[0])
    assert listed.total == 2 and [lb.reviewer for lb in listed.items] == ["alice", "bootstrap-1"]

    results = await service.client.run_results(run.run_id)
    reviews = {r.id: r.review for r in results.items}
    first = reviews[run.result_ids[0]]
    assert first is not None and (first.labels, first.passed) == (2, False)
    assert reviews[run.result_ids[1]] is None
    status = await service.client.get_status(run.run_id)
    assert status.results[0].review == first
    history = await service.client.agent_results(AGENT, limit=10)
    assert {r.id: r.review for r in history.items}[run.result_ids[0]] == first


async def test_labels_refuse_what_is_not_there(service: Service, database: Database) -> None:
    run = await judged_run(database, AGENT, [Judged("refund", 0.9, extra_check=True)])
    with pytest.raises(APIStatusError) as missing:
        await service.client.add_label("no-such-result", passed=True)
    assert missing.value.status == 404
    with pytest.raises(APIStatusError) as bad_check:
        await service.client.add_label(run.result_ids[0], passed=True, check=2)
    assert bad_check.value.status == 422 and "0 to 1" in bad_check.value.message
    reader = await reviewer(service, "reader", ["read"])
    async with reader:
        with pytest.raises(APIStatusError) as forbidden:
            await reader.add_label(run.result_ids[0], passed=True)
    assert forbidden.value.status == 403
    raw = await service.http.post(
        f"/api/v1/results/{run.result_ids[0]}/labels", json={"passed": True, "score": 2}
    )
    assert raw.status_code == 422


async def test_a_label_is_deleted_by_its_reviewer_or_an_admin(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, [Judged("refund", 0.9)])
    alice, bob = await reviewer(service, "alice"), await reviewer(service, "bob")
    async with alice, bob:
        mine = await alice.add_label(run.result_ids[0], passed=True)
        other = await alice.add_label(run.result_ids[0], passed=False)
        with pytest.raises(APIStatusError) as refused:
            await bob.delete_label(mine.id)
        assert refused.value.status == 403 and "alice" in refused.value.message
        await alice.delete_label(mine.id)
        with pytest.raises(APIStatusError) as gone:
            await alice.delete_label(mine.id)
        assert gone.value.status == 404
    await service.client.delete_label(other.id)  # the admin
    assert (await service.client.list_labels(run.result_ids[0])).total == 0
    assert (await service.client.run_results(run.run_id)).items[0].review is None


async def test_the_queue_offers_uncertain_results_until_you_label_them(
    service: Service, database: Database
) -> None:
    run = await judged_run(
        database,
        AGENT,
        [
            Judged("sure pass", 0.95),
            Judged("near", 0.55),
            Judged("split", 0.9, samples=[0.2, 0.9, 0.95]),
            Judged("sure fail", 0.05),
            Judged("errored", 0.5, status="error"),
        ],
    )
    queue = await service.client.review_queue(run_id=run.run_id, strategy="uncertain")
    assert queue.strategy == "uncertain"
    names = [item.test_case.name for item in queue.items]
    assert names == ["near", "split"]
    assert "within 0.15 of the threshold 0.5" in queue.items[0].review_reason
    assert "3 samples split" in queue.items[1].review_reason

    alice = await reviewer(service, "alice")
    async with alice:
        await alice.add_label(queue.items[0].id or "", passed=True)
        mine = await alice.review_queue(run_id=run.run_id, strategy="uncertain", limit=1)
        assert [i.test_case.name for i in mine.items] == ["split"]
    # Someone else's label does not take the item out of your queue.
    again = await service.client.review_queue(run_id=run.run_id)
    assert [i.test_case.name for i in again.items] == ["near", "split"]
    assert again.items[0].review is not None and again.items[0].review.labels == 1

    unlabeled = await service.client.review_queue(run_id=run.run_id, strategy="unlabeled")
    assert [i.test_case.name for i in unlabeled.items] == ["sure pass", "split", "sure fail"]
    assert {i.review_reason for i in unlabeled.items} == {"no label yet"}
    by_agent = await service.client.review_queue(agent_id=AGENT, strategy="unlabeled", limit=2)
    assert len(by_agent.items) == 2


async def test_the_disagreement_queue_shows_labels_that_contradict_the_judge(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, [Judged("a", 0.9), Judged("b", 0.1), Judged("c", 0.8)])
    alice = await reviewer(service, "alice")
    async with alice:
        await alice.add_label(run.result_ids[0], passed=False)  # the judge passed it
        await alice.add_label(run.result_ids[1], passed=False)  # agrees
        await alice.add_label(run.result_ids[2], passed=False)
        await alice.add_label(run.result_ids[2], passed=True)  # changed her mind: agrees now
        assert (await alice.review_queue(agent_id=AGENT, strategy="disagreement")).items == []
    queue = await service.client.review_queue(agent_id=AGENT, strategy="disagreement")
    assert [i.test_case.name for i in queue.items] == ["a"]
    assert queue.items[0].review_reason == (
        "alice failed what the judge passed (check 0, llm_rubric)"
    )


async def test_the_queue_needs_one_scope(service: Service) -> None:
    for params in ({}, {"run_id": "r", "agent_id": "a"}):
        answer = await service.http.get("/api/v1/review/queue", params=params)
        assert answer.status_code == 422, params
    unknown = await service.http.get("/api/v1/review/queue", params={"agent_id": "nobody"})
    assert unknown.status_code == 404
    bad = await service.http.get(
        "/api/v1/review/queue", params={"agent_id": AGENT, "strategy": "random"}
    )
    assert bad.status_code == 422


async def test_agreement_per_criterion_with_kappa_and_alpha(
    service: Service, database: Database
) -> None:
    # The judge passes 6 of 8; alice and bob both label all 8.
    scores = [0.9, 0.8, 0.7, 0.9, 0.6, 0.95, 0.1, 0.2]
    run = await judged_run(database, AGENT, [Judged(f"case {i}", s) for i, s in enumerate(scores)])
    other = await judged_run(
        database, AGENT, [Judged("polite", 0.9, rubric="Is polite.", extra_check=True)]
    )
    alice_says = [True, True, True, True, False, True, False, False]
    bob_says = [True, True, True, True, False, True, False, True]
    alice, bob = await reviewer(service, "alice"), await reviewer(service, "bob")
    async with alice, bob:
        for result_id, a, b in zip(run.result_ids, alice_says, bob_says, strict=True):
            await alice.add_label(result_id, passed=a)
            await bob.add_label(result_id, passed=b)
        await alice.add_label(other.result_ids[0], passed=True)  # counts for its judge check
        await alice.add_label(other.result_ids[0], passed=False, check=0)  # 'contains': no judge

    report = await service.client.judge_agreement(agent_id=AGENT)
    first, second = report.items
    assert (first.check_type, first.criterion) == ("llm_rubric", RUBRIC)
    # Case 7: alice fails, bob passes: a tie, left out. 7 items: tp 5, fp 1 (case 4), tn 1.
    assert first.labeled == 7
    assert first.confusion.model_dump() == {"tp": 5, "fp": 1, "fn": 0, "tn": 1}
    assert first.agreement == pytest.approx(6 / 7)
    assert first.judge_pass_rate == pytest.approx(6 / 7)
    assert first.human_pass_rate == pytest.approx(5 / 7)
    # p_o 6/7, p_e = (6/7)(5/7) + (1/7)(2/7) = 32/49; kappa = (42/49 - 32/49) / (17/49) = 10/17
    assert first.kappa == pytest.approx(10 / 17)
    assert first.kappa_ci is not None and first.kappa_ci.low < 10 / 17 < first.kappa_ci.high
    assert first.agreement_ci is not None and first.agreement_ci.level == 0.95
    assert first.reviewers == 2 and first.reviewer_alpha is not None
    assert 0 < first.reviewer_alpha < 1
    assert (second.criterion, second.labeled, second.reviewer_alpha) == ("Is polite.", 1, None)

    only = await service.client.judge_agreement(agent_id=AGENT, check_type="factuality")
    assert only.items == []
    raw = await service.http.get("/api/v1/judges/agreement", params={"agent_id": AGENT})
    item = raw.json()["items"][0]
    for key in (
        "check_type", "criterion", "labeled", "agreement", "agreement_ci", "kappa", "kappa_ci",
        "confusion", "judge_pass_rate", "human_pass_rate", "reviewer_alpha",
    ):  # fmt: skip
        assert key in item
    assert set(item["confusion"]) == {"tp", "fp", "fn", "tn"}


async def test_agreement_by_suite(service: Service, database: Database) -> None:
    suite = await service.client.create_suite(
        {"id": "refunds", "name": "refunds", "test_cases": [{"name": "x", "input": "y"}]}
    )
    in_suite = await judged_run(database, AGENT, [Judged("a", 0.9)], suite_id=suite.id)
    elsewhere = await judged_run(database, AGENT, [Judged("b", 0.9)])
    await service.client.add_label(in_suite.result_ids[0], passed=True)
    await service.client.add_label(elsewhere.result_ids[0], passed=False)
    report = await service.client.judge_agreement(suite_id=suite.id)
    assert [(i.labeled, i.agreement) for i in report.items] == [(1, 1.0)]


async def test_a_run_summary_puts_the_people_next_to_the_judge(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, [Judged("a", 0.9), Judged("b", 0.8), Judged("c", 0.1)])
    assert "review" not in ((await service.client.get_run(run.run_id)).summary or {})
    await service.client.add_label(run.result_ids[0], passed=True)
    await service.client.add_label(run.result_ids[1], passed=False)
    summary = (await service.client.get_run(run.run_id)).summary
    assert summary is not None
    assert summary["review"] == {"labeled": 2, "human_pass_rate": 0.5, "judge_pass_rate": 1.0}
    status = await service.client.get_status(run.run_id)
    assert status.summary is not None and status.summary["review"]["labeled"] == 2


async def test_the_golden_set_reads_back_as_a_suite(service: Service, database: Database) -> None:
    run = await judged_run(
        database,
        AGENT,
        [Judged("approved", 0.9), Judged("rejected", 0.8, expected="Refunds take 30 days."),
         Judged("unlabeled", 0.9)],
    )  # fmt: skip
    await service.client.add_label(run.result_ids[0], passed=True, comment="Good.")
    await service.client.add_label(run.result_ids[1], passed=False)

    body = await service.client.export_golden_set(AGENT, "yaml")
    suite = parse_suite(body, filename="golden.yaml")
    cases = {c.name: c for c in suite.test_cases}
    assert set(cases) == {"approved", "rejected"}
    assert cases["approved"].expected == "answer to approved"  # the output people approved
    assert cases["approved"].tags == ["golden", "human-pass"]
    assert cases["approved"].metadata["review"]["comments"] == ["Good."]
    assert cases["rejected"].expected == "Refunds take 30 days."
    assert cases["rejected"].tags == ["golden", "human-fail"]
    assert cases["rejected"].checks[0].type == "llm_rubric"
    assert yaml.safe_load(body)["name"] == f"{AGENT} golden set"

    imported = await service.client.import_suite("golden.yaml", content=body)
    assert imported.case_count == 2
    jsonl = await service.client.export_golden_set(AGENT, "jsonl")
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [line["name"] for line in lines] == [c.name for c in suite.test_cases]
    assert (await service.client.import_suite("golden.jsonl", content=jsonl)).case_count == 2

    raw = await service.http.get("/api/v1/review/export", params={"agent_id": AGENT})
    assert raw.headers["content-type"].startswith("application/yaml")
    assert "attachment" in raw.headers["content-disposition"]


async def test_nothing_to_export_says_what_to_do(service: Service, database: Database) -> None:
    await judged_run(database, AGENT, [Judged("a", 0.9)])
    with pytest.raises(APIStatusError) as empty:
        await service.client.export_golden_set(AGENT)
    assert empty.value.status == 422 and "label" in empty.value.message
    with pytest.raises(APIStatusError) as unknown:
        await service.client.export_golden_set("nobody")
    assert unknown.value.status == 404
