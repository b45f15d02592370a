"""Conversations in the reports: HTML shows a collapsible transcript, Markdown a collapsed table
with everything escaped, JUnit the transcript in the failure (or in system-out when it passed)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from tests.unit.reports.helpers import XSS, probe, result, summarize

from aifactory.domain.models import CheckResult, TestCase, TestResult, TranscriptEntry
from aifactory.reports.html import write_html
from aifactory.reports.junit import write_junit
from aifactory.reports.markdown import write_markdown
from aifactory.reports.md_escape import md_text

PASS = CheckResult(type="icontains", status="passed", passed=True, score=1.0, reason="found it")
FAIL = CheckResult(
    type="icontains", status="failed", passed=False, score=0.0, reason="no 'replacement' | @here"
)
HOSTILE = f"{XSS} | [click](https://evil.example) @everyone #12"


def conversation(
    index: int, *, passed: bool, reply: str = "I can only help with orders."
) -> TestResult:
    case = TestCase.model_validate(
        {
            "name": f"talk {index}",
            "tags": ["conversation"],
            "turns": [
                {
                    "input": "My order arrived broken.",
                    "checks": [{"type": "icontains", "value": "order"}],
                },
                {"input": HOSTILE, "checks": [{"type": "icontains", "value": "replacement"}]},
            ],
            "checks": [
                {"type": "turn_count", "max": 2},
                {"type": "icontains", "value": "x", "scope": "each"},
            ],
        }
    )
    second = PASS if passed else FAIL
    transcript = [
        TranscriptEntry(role="user", content="My order arrived broken.", turn=1),
        TranscriptEntry(
            role="assistant", content="What is your order number?", turn=1, checks=[PASS]
        ),
        TranscriptEntry(role="user", content=HOSTILE, turn=2),
        TranscriptEntry(
            role="assistant",
            content="A replacement ships today." if passed else reply,
            turn=2,
            checks=[second],
            latency_ms=12.0,
        ),
    ]
    each = CheckResult(type="icontains", status="passed", passed=True, score=1.0, reason="each")
    return TestResult(
        case_index=index,
        test_case=case,
        status="passed" if passed else "failed",
        passed=passed,
        score=1.0 if passed else 0.5,
        feedback="" if passed else "icontains: turn 2: no 'replacement'",
        output=transcript[-1].content,
        checks=[
            CheckResult(type="turn_count", status="passed", passed=True, score=1.0, reason="2"),
            each,
        ],
        transcript=transcript,
        turns=2,
        stop_reason="completed",
        latency_ms=20.0,
    )


def sample() -> list[TestResult]:
    return [
        conversation(0, passed=True),
        conversation(1, passed=False, reply=f"<b>no</b> {XSS}"),
        result(2, "failed"),
    ]


def test_html_shows_each_conversation_as_a_collapsible_chat_with_its_turn_checks() -> None:
    results = sample()
    out = io.StringIO()
    write_html(out, results, summarize(results), title="conversations")
    html = out.getvalue()
    page = probe(html)

    assert page.count("details", **{"class": "transcript"}) == 2
    assert page.count("ol", **{"class": "chat"}) == 2
    assert page.count("li", **{"class": "msg"}) == 8
    assert page.count("li", **{"class": "failing"}) == 1
    assert page.count("ul", **{"class": "turn-checks"}) == 4
    # The failing conversation's transcript opens with its case; the passing one stays closed.
    assert '<details class="transcript" open>' in html
    assert html.count('<details class="transcript">') == 1
    text = "".join(page.text)
    assert "2 agent replies · ended: scripted turns done" in text
    assert "turn 2" in text
    assert "(each reply)" in text and "(whole conversation)" in text
    assert "Conversations passed" in text
    assert "Turn 2 passed" in text
    # Whatever the user or the agent said is text.
    assert XSS in text and "<b>no</b>" in text
    assert page.count("script") == 1  # the report's own filter script
    assert page.count("b") == 0
    # A single-turn case still shows its input and output.
    assert page.count("pre", **{"class": "output"}) == 1


def test_markdown_names_the_failing_turn_and_shows_the_transcript_escaped() -> None:
    results = sample()
    out = io.StringIO()
    write_markdown(out, results, summarize(results), title="conversations")
    md = out.getvalue()

    assert "| conversations passed | 1 of 2 (50.0%" in md
    assert "| agent replies per conversation | 2.0 |" in md
    assert "| conversations ended | scripted turns done 2 |" in md
    assert "| turn 2 passed its checks | 1 of 2 (50.0%) |" in md
    assert "| talk 1 · turn 2 | failed |" in md
    assert "### Failing conversations" in md
    assert "<details><summary>Transcript (4 messages)</summary>" in md
    assert f"| 2 | agent | {md_text(f'<b>no</b> {XSS}')} | ❌ icontains" in md
    assert md.count("</details>") == 1  # only the failing conversation is shown
    # The user's hostile turn: no raw HTML, link, table break, mention or issue reference.
    assert "<script>" not in md and "](https" not in md
    assert "\\| \\[click\\]" in md
    assert "@\u200beveryone" in md and "\\#\u200b12" in md
    assert "@\u200bhere" in md  # a check's reason is escaped too
    for line in md.splitlines():
        if line.startswith("| 2 | user |"):
            assert line.count(" | ") == 3  # four cells, none broken open


def test_junit_carries_the_transcript_in_the_failure_and_in_system_out() -> None:
    results = sample()
    out = io.StringIO()
    write_junit(out, results, summarize(results), suite_name="conversations")
    root = ET.fromstring(out.getvalue())
    cases = {case.get("name"): case for case in root.iter("testcase")}

    failure = cases["talk 1"].find("failure")
    assert failure is not None and failure.text is not None
    body = failure.text
    assert "conversation: 2 agent replies, ended: scripted turns done; failed: turn 2" in body
    assert "[turn 2] user: " + HOSTILE in body
    assert f"[turn 2] agent: <b>no</b> {XSS}" in body
    assert "    [failed] icontains: no 'replacement' | @here" in body
    assert "output:" not in body

    passed = cases["talk 0"]
    assert passed.find("failure") is None
    system_out = passed.find("system-out")
    assert system_out is not None and system_out.text is not None
    assert system_out.text.startswith("conversation: 2 agent replies, ended: scripted turns done")
    assert "[turn 1] agent: What is your order number?" in system_out.text

    single = cases["case 2"]
    assert single.find("system-out") is None
    single_failure = single.find("failure")
    assert single_failure is not None and "output:" in (single_failure.text or "")
