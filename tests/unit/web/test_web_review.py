"""The review and agreement pages through the ASGI stack, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from tests.fakes.review_data import RUBRIC, Judged, judged_run
from tests.fakes.service import Service
from tests.unit.web.test_web_pages import sign_in

from aifactory.domain.agreement import Confusion
from aifactory.domain.models import Interval
from aifactory.domain.review import REVIEW_STRATEGIES, JudgeAgreement
from aifactory.store.database import Database
from aifactory.web import review_views

AGENT = "support-bot"
NEAR = [Judged("near 1", 0.55), Judged("near 2", 0.45), Judged("near 3", 0.6)]


def csrf_of(page: httpx.Response) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return token[1]


def item_id(page: httpx.Response) -> str:
    found = re.search(r'id="review-item" data-result-id="([^"]*)"', page.text)
    assert found is not None
    return found[1]


@asynccontextmanager
async def key_session(
    service: Service, name: str, scopes: list[str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in with a new key of ``scopes``."""
    created = await service.client.create_key(name, scopes=scopes)
    async with service.raw() as http:
        page = await http.get("/signin")
        data = {"api_key": created.key, "csrf_token": csrf_of(page)}
        assert (await http.post("/signin", data=data)).status_code == 303
        yield http


async def test_the_review_page_shows_an_item_side_by_side_with_why_it_is_queued(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, [Judged("far", 0.95), *NEAR])
    async with service.raw() as http:
        await sign_in(http)
        page = await http.get(f"/review?agent_id={AGENT}&strategy=uncertain")
    assert page.status_code == 200
    assert item_id(page) in run.result_ids[1:]
    text = page.text
    assert "within 0.15 of the threshold 0.5" in text
    for part in ("question near", "answer to near", "The judge&#39;s reasoning on near", RUBRIC):
        assert part in text
    assert 'id="label-pass"' in text and 'id="label-fail"' in text
    assert "/ui/static/review.js" in text
    assert 'href="/agreement?agent_id=support-bot"' in text


async def test_next_item_skips_what_the_reviewer_skipped_and_labels_move_the_queue(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, NEAR)
    async with service.raw() as http:
        await sign_in(http)
        page = await http.get(f"/review?agent_id={AGENT}")
        token = csrf_of(page)
        first = item_id(page)
        answer = await http.get(
            "/ui/api/review/next", params={"agent_id": AGENT, "strategy": "uncertain"}
        )
        assert answer.status_code == 200 and answer.json()["item"]["id"] == first
        item = answer.json()["item"]
        assert item["reason"].startswith("check 0 (llm_rubric)")
        assert item["checks"][0]["criterion"] == RUBRIC and item["checks"][0]["judge"] is True
        assert item["checks"][0]["threshold"] == 0.5

        skipped = await http.get("/ui/api/review/next", params={"agent_id": AGENT, "skip": [first]})
        second = skipped.json()["item"]["id"]
        assert second != first

        labeled = await http.post(
            f"/ui/api/results/{first}/labels",
            json={"passed": False, "comment": "  Misses the window. "},
            headers={"X-CSRF-Token": token},
        )
        assert labeled.status_code == 201
        label = labeled.json()["label"]
        assert (label["passed"], label["comment"], label["reviewer"]) == (
            False,
            "Misses the window.",
            "bootstrap-1",
        )
        after = await http.get("/ui/api/review/next", params={"agent_id": AGENT})
        assert after.json()["item"]["id"] == second

        for result_id in run.result_ids:
            if result_id != first:
                await http.post(
                    f"/ui/api/results/{result_id}/labels",
                    json={"passed": True},
                    headers={"X-CSRF-Token": token},
                )
        empty = await http.get("/ui/api/review/next", params={"run_id": run.run_id})
        assert empty.json() == {"item": None}
        done = await http.get(f"/review?run_id={run.run_id}")
        assert item_id(done) == "" and "Nothing left to review" in done.text
    listed = await service.client.list_labels(first)
    assert [(lb.passed, lb.comment) for lb in listed.items] == [(False, "Misses the window.")]


async def test_labels_need_a_session_the_csrf_token_and_the_write_scope(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, NEAR)
    target = f"/ui/api/results/{run.result_ids[0]}/labels"
    async with service.raw() as anonymous:
        assert (await anonymous.post(target, json={"passed": True})).status_code == 401
        assert (await anonymous.get(f"/ui/api/review/next?agent_id={AGENT}")).status_code == 401
    async with key_session(service, "writer", ["read", "write"]) as writer:
        token = csrf_of(await writer.get(f"/review?agent_id={AGENT}"))
        forged = await writer.post(target, json={"passed": True}, headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "forbidden"
        bad = await writer.post(
            target, content=b'{"passed": "maybe"}', headers={"X-CSRF-Token": token}
        )
        assert bad.status_code == 422
        missing = await writer.post(
            "/ui/api/results/no-such-result/labels",
            json={"passed": True},
            headers={"X-CSRF-Token": token},
        )
        assert missing.status_code == 404
    async with key_session(service, "reader", ["read"]) as reader:
        page = await reader.get(f"/review?agent_id={AGENT}")
        assert page.status_code == 200 and item_id(page) in run.result_ids
        assert 'id="label-pass"' not in page.text and "labeling needs the" in page.text
        token = csrf_of(await reader.get("/runs"))
        refused = await reader.post(target, json={"passed": True}, headers={"X-CSRF-Token": token})
        assert refused.status_code == 403 and "'write' scope" in refused.text
        form = await reader.post(
            "/review/label",
            data={"result_id": run.result_ids[0], "verdict": "pass", "csrf_token": token},
        )
        assert form.status_code == 403
    assert (await service.client.list_labels(run.result_ids[0])).total == 0


async def test_without_scripts_the_form_labels_and_returns_to_the_queue(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, NEAR)
    async with service.raw() as http:
        await sign_in(http)
        page = await http.get(f"/review?run_id={run.run_id}&strategy=unlabeled")
        first = item_id(page)
        skip = re.search(r'href="([^"]+)" id="skip-link"', page.text)
        assert skip is not None
        skipped = await http.get(skip[1].replace("&amp;", "&"))
        assert item_id(skipped) not in ("", first)
        answer = await http.post(
            "/review/label",
            data={
                "result_id": first,
                "verdict": "fail",
                "comment": "Wrong.",
                "strategy": "unlabeled",
                "run_id": run.run_id,
                "csrf_token": csrf_of(page),
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/review?strategy=unlabeled&run_id={run.run_id}"
        again = await http.get(answer.headers["location"])
        assert item_id(again) not in ("", first)
    listed = await service.client.list_labels(first)
    assert [(lb.passed, lb.comment) for lb in listed.items] == [(False, "Wrong.")]


async def test_the_agreement_page_shows_each_criterion_with_its_confusion(
    service: Service, database: Database
) -> None:
    markup = "<b>Is polite</b>"
    run = await judged_run(
        database,
        AGENT,
        [Judged("a", 0.9), Judged("b", 0.8), Judged("c", 0.2), Judged("d", 0.9, rubric=markup)],
    )
    verdicts = [True, False, False, True]
    for result_id, passed in zip(run.result_ids, verdicts, strict=True):
        await service.client.add_label(result_id, passed=passed)
    async with service.raw() as http:
        await sign_in(http)
        page = await http.get(f"/agreement?agent_id={AGENT}")
        none = await http.get("/agreement")
        missing = await http.get("/agreement?agent_id=no-such-agent")
    assert page.status_code == 200
    text = page.text
    assert "<b>Is polite</b>" not in text and "&lt;b&gt;Is polite&lt;/b&gt;" in text
    first = text.split('data-criterion="0"', 1)[1].split('data-criterion="1"', 1)[0]
    assert RUBRIC in first
    assert re.search(r'data-field="labeled">3<', first)
    cells = dict(re.findall(r'data-cell="(\w\w)"><span class="sub">\w\w</span> (\d+)<', first))
    assert cells == {"tp": "1", "fp": "1", "fn": "0", "tn": "1"}
    assert "66.7% / 33.3%" in first and "1 of 3 items (33%)" in first
    assert none.status_code == 200 and "Choose an agent" in none.text
    assert missing.status_code == 404


@pytest.mark.parametrize("service_env", [{"AIFACTORY_AUTH": "disabled"}])
async def test_with_auth_disabled_labels_carry_the_form_cookies_token(
    service: Service, database: Database
) -> None:
    run = await judged_run(database, AGENT, NEAR)
    async with service.raw() as http:
        page = await http.get(f"/review?agent_id={AGENT}")
        first = item_id(page)
        answer = await http.post(
            f"/ui/api/results/{first}/labels",
            json={"passed": True},
            headers={"X-CSRF-Token": csrf_of(page)},
        )
        forged = await http.post(
            f"/ui/api/results/{first}/labels", json={"passed": True}, headers={"X-CSRF-Token": "x"}
        )
    assert answer.status_code == 201 and forged.status_code == 403
    assert first in run.result_ids


def test_every_strategy_is_explained_and_kappa_is_read_as_landis_and_koch() -> None:
    assert set(review_views.STRATEGY_HELP) == set(REVIEW_STRATEGIES)
    readings = [review_views.kappa_reading(k) for k in (-0.1, 0.1, 0.3, 0.5, 0.7, 0.9)]
    assert readings == [
        "worse than chance",
        "slight",
        "fair",
        "moderate",
        "substantial",
        "almost perfect",
    ]
    assert review_views.kappa_reading(None) == ""
    item = JudgeAgreement(
        check_type="llm_rubric",
        criterion=RUBRIC,
        labeled=50,
        agreement=0.9,
        agreement_ci=Interval(low=0.79, high=0.96),
        confusion=Confusion(tp=30, fp=3, fn=2, tn=15),
    )
    (row,) = review_views.agreement_rows([item])
    assert (row.lenient, row.strict) == ("3 of 50 items (6%)", "2 of 50 items (4%)")
    assert review_views.skipped(["a", "", "b", "a"]) == ["b", "a"]
