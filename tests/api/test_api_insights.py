"""Comparisons, trends and reports through the SDK, on runs made by scripted agents."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest
from junitparser import JUnitXml
from tests.fakes.service import Service

from aifactory.client import APIStatusError

XSS = "<script>alert(1)</script>"


def agent(easy_only: bool) -> dict[str, object]:
    """v1 answers every refund question; v2 only the easy ones (so hard cases regress)."""
    rule = {"match": "refund easy", "output": "Refunds within 30 days."}
    if not easy_only:
        rule = {"match": "refund", "output": f"Refunds within 30 days. {XSS}"}
    return {
        "id": "support-bot",
        "kind": "scripted",
        "config": {"responses": [rule], "default": f"I cannot help. {XSS}"},
    }


def cases(extra_check: str = "Refunds") -> list[dict[str, object]]:
    easy: list[dict[str, object]] = [
        {
            "name": f"easy {i}",
            "input": f"refund easy {i}",
            "checks": [{"type": "contains", "value": "30 days"}],
            "tags": ["easy"],
        }
        for i in range(4)
    ]
    hard: list[dict[str, object]] = [
        {
            "name": f"hard {i}",
            "input": f"refund hard {i}",
            "checks": [{"type": "contains", "value": "30 days"}],
            "tags": ["hard"],
        }
        for i in range(8)
    ]
    # Same name and input each run; its check changes between runs of one version (a flake).
    wobbly: dict[str, object] = {
        "name": "wobbly",
        "input": "refund easy wobbly",
        "checks": [{"type": "contains", "value": extra_check}],
    }
    return [*easy, *hard, wobbly]


@dataclass
class Runs:
    v1: str
    v2: str
    v2_again: str


async def run(service: Service, test_cases: list[dict[str, object]], name: str) -> str:
    accepted = await service.client.submit_batch("support-bot", test_cases=test_cases, name=name)
    status = await service.client.wait_for_run(accepted.run_id, timeout=30, poll_s=0.05)
    assert status.status == "completed"
    return accepted.run_id


async def three_runs(service: Service) -> Runs:
    await service.client.create_agent(agent(easy_only=False))
    v1 = await run(service, cases(), "v1")
    updated = await service.client.update_agent("support-bot", config=agent(True)["config"])
    assert updated.version == 2
    v2 = await run(service, cases(), "v2")
    v2_again = await run(service, cases(extra_check="nothing like this"), "v2 again")
    return Runs(v1=v1, v2=v2, v2_again=v2_again)


async def test_compare_and_trend_of_real_runs(service: Service) -> None:
    runs = await three_runs(service)
    comparison = await service.client.compare_runs(runs.v1, runs.v2)
    assert comparison.base.run_id == runs.v1 and comparison.head.run_id == runs.v2
    assert comparison.base.agent_version == 1 and comparison.head.agent_version == 2
    assert comparison.pairs == 13
    assert comparison.only_in_base == [] and comparison.only_in_head == []
    assert sorted(f.name for f in comparison.regressions) == [f"hard {i}" for i in range(8)]
    assert comparison.improvements == []
    assert {(f.base_status, f.head_status) for f in comparison.flips} == {("passed", "failed")}
    assert comparison.mcnemar.b == 8 and comparison.mcnemar.c == 0
    assert comparison.mcnemar.p_value == pytest.approx(2 / 2**8)
    assert comparison.score_diff.mean == pytest.approx(-8 / 13)
    assert comparison.score_diff.ci_high is not None and comparison.score_diff.ci_high < 0
    assert comparison.effect_size.pass_rate_diff == pytest.approx(-8 / 13)
    assert comparison.verdict == "regressed"
    backwards = await service.client.compare_runs(runs.v2, runs.v1)
    assert backwards.verdict == "improved"
    assert len(backwards.improvements) == 8

    # The same runs make the agent's history: per run, per version, and the flaky case.
    trend = await service.client.agent_trend("support-bot")
    assert [r.run_id for r in trend.runs] == [runs.v1, runs.v2, runs.v2_again]  # newest last
    first = trend.runs[0]
    assert first.pass_rate == 1.0
    assert first.pass_rate_ci is not None and first.pass_rate_ci.low < 1.0
    assert [v.agent_version for v in trend.versions] == [1, 2]
    v2 = trend.versions[1]
    assert (v2.runs, v2.completed, v2.passed) == (2, 26, 9)  # 5 then 4 passed of 13
    assert v2.pass_rate_ci is not None
    assert v2.pass_rate_ci.low < 9 / 26 < v2.pass_rate_ci.high
    assert [(f.name, f.agent_version) for f in trend.flaky_cases] == [("wobbly", 2)]
    only_last = await service.client.agent_trend("support-bot", runs=1)
    assert [r.run_id for r in only_last.runs] == [runs.v2_again]


async def test_reports_in_every_format(service: Service) -> None:
    await service.client.create_agent(agent(easy_only=True))
    v2 = await run(service, cases(), "v2")
    expected_type = {
        "html": "text/html",
        "markdown": "text/markdown",
        "json": "application/json",
        "junit": "application/xml",
        "csv": "text/csv",
    }
    for fmt, media_type in expected_type.items():
        response = await service.http.get(f"/api/v1/runs/{v2}/report", params={"format": fmt})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(media_type)
        assert f"aifactory-run-{v2}." in response.headers["content-disposition"]
    html = (await service.client.get_report(v2, "html")).decode()
    # Every case is listed, the failures first.
    assert "hard 7" in html and "easy 0" in html
    assert html.index('data-status="failed"') < html.index('data-status="passed"')
    assert html.count('<details class="case"') == 13
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and XSS not in html
    report = json.loads(await service.client.get_report(v2, "json"))
    assert report["meta"]["run_id"] == v2
    assert report["summary"]["passed"] == 5 and len(report["results"]) == 13
    junit = JUnitXml.fromstring((await service.client.get_report(v2, "junit")).decode())
    (suite,) = list(junit)
    assert (suite.tests, suite.failures, suite.errors) == (13, 8, 0)
    rows = list(csv.DictReader(io.StringIO((await service.client.get_report(v2, "csv")).decode())))
    assert len(rows) == 13 and sum(r["status"] == "failed" for r in rows) == 8
    markdown = (await service.client.get_report(v2, "markdown")).decode()
    assert markdown.startswith("## v2 — ❌ failed") and "| hard 0 | failed |" in markdown


async def test_unknown_ids_are_404_and_unknown_formats_422(service: Service) -> None:
    await service.client.create_agent(agent(easy_only=False))
    known = await run(service, cases(), "v1")
    missing = "00000000-0000-0000-0000-000000000000"
    for call in (
        service.client.compare_runs(known, missing),
        service.client.compare_runs(missing, known),
        service.client.get_report(missing, "html"),
        service.client.agent_trend("nobody"),
    ):
        with pytest.raises(APIStatusError) as caught:
            await call
        assert caught.value.status == 404
        assert caught.value.code == "not_found"
    with pytest.raises(APIStatusError) as caught:
        await service.client.get_report(known, "pdf")
    assert caught.value.status == 422
    response = await service.http.get("/api/v1/runs/compare", params={"base": known})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
