"""Baselines: the ``--json`` document of a run, read as what the CI gate compares."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.baseline import figures_of, read_baseline
from aifactory.domain.models import TestCase, TestResult
from aifactory.errors import InvalidInput


def item(name: str, status: str = "passed", score: float = 1.0, **more: Any) -> dict[str, Any]:
    return {"test_case": {"name": name, "input": "x"}, "status": status, "score": score, **more}


def test_a_run_json_reads_with_its_suite_agent_metadata_and_summary() -> None:
    document = {
        "suite": "refunds",
        "agent": "support-bot",
        "metadata": {"branch": "main"},
        "meta": {"suite": "refunds", "agent": "support-bot"},
        "summary": {"cost_usd": 0.25, "latency_ms": {"p50": 120.0, "p95": 300.0}},
        "results": [
            item("a"),
            item("b", "failed", 0.0, repeat_index=1),
            item("c", "error", 0.0, some_future_field=[1, 2]),
        ],
    }
    run = read_baseline(document, source="base.json")
    assert (run.suite, run.agent, run.metadata) == ("refunds", "support-bot", {"branch": "main"})
    assert [(o.name, o.repeat_index, o.status) for o in run.outcomes] == [
        ("a", 0, "passed"),
        ("b", 1, "failed"),
        ("c", 0, "error"),
    ]
    assert run.cost_usd == 0.25
    assert (run.latency_ms("p50"), run.latency_ms("p95"), run.latency_ms("p99")) == (
        120.0,
        300.0,
        None,
    )
    brief = run.brief("baseline")
    assert (brief.passed, brief.failed, brief.errored, brief.completed) == (1, 1, 1, 3)
    assert brief.pass_rate == pytest.approx(1 / 3)
    assert (
        brief.pass_rate_ci is not None and brief.pass_rate_ci.low < 1 / 3 < brief.pass_rate_ci.high
    )
    assert brief.name == "baseline" and brief.agent_id == "support-bot"


def test_older_documents_and_server_reports_keep_suite_and_agent_under_meta() -> None:
    older = read_baseline({"meta": {"suite": "s", "agent": "bot"}, "results": []}, source="f")
    assert (older.suite, older.agent) == ("s", "bot")
    report = read_baseline(
        {
            "meta": {"run_id": "3f2a9c1e-0000-4000-8000-000000000000", "agent_id": "bot",
                     "agent_version": 3, "suite_id": "suite-1"},
            "summary": {},
            "results": [item("a")],
        },
        source="report.json",
    )  # fmt: skip
    assert (report.agent, report.agent_version, report.suite) == ("bot", 3, None)
    assert report.run_id == "3f2a9c1e-0000-4000-8000-000000000000"


def test_unfinished_cases_are_left_out() -> None:
    run = read_baseline({"results": [item("a"), item("b", "pending", 0.0)]}, source="f")
    assert [o.name for o in run.outcomes] == ["a"]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "has no 'results' list"),
        ({"summary": {}}, "has no 'results' list"),
        ({"results": ["x"]}, r"results\[0\] is not an object"),
        ({"results": [{"status": "passed", "score": 1}]}, r"results\[0\]\.test_case\.name"),
        ({"results": [item("a", score=2)]}, r"results\[0\]\.score must be a number from 0 to 1"),
        ({"results": [item("a", score=True)]}, r"results\[0\]\.score"),
        ({"results": [item("a"), item("b", repeat_index=-1)]}, r"results\[1\]\.repeat_index"),
    ],
)
def test_a_document_that_is_not_a_run_says_which_field(document: Any, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        read_baseline(document, source="base.json")
    assert str(caught.value).startswith("base.json")


def test_a_brief_never_carries_unsafe_characters_in_its_run_id() -> None:
    run = read_baseline({"run_id": "`x` <b>|", "results": [item("a")]}, source="f")
    assert run.brief("baseline").run_id == "xb"
    assert read_baseline({"results": []}, source="f").brief("b").run_id == "local"


def test_figures_of_results_keep_finished_ones() -> None:
    case = TestCase(name="a", input="x")
    results = [
        TestResult(test_case=case, status="passed", passed=True, score=1.0, case_index=0),
        TestResult(test_case=case, status="failed", passed=False, score=0.2, repeat_index=1),
    ]
    run = figures_of(results, suite="s", agent="bot", summary={"cost_usd": 0.5}, run_id="r1")
    assert [(o.name, o.repeat_index, o.score) for o in run.outcomes] == [
        ("a", 0, 1.0),
        ("a", 1, 0.2),
    ]
    assert run.cost_usd == 0.5 and run.run_id == "r1"
