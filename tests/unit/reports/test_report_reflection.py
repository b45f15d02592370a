"""A reflection's report: pass rates with intervals per step, verdicts, and diffs, escaped."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from aifactory.domain.reflection import (
    Baseline,
    Candidate,
    Iteration,
    ReflectionCreate,
    ReflectionPublic,
)
from aifactory.reports.reflection import write_reflection_html, write_reflection_markdown

XSS = "<script>alert(1)</script>"


def reflection() -> ReflectionPublic:
    diff = "--- v1\n+++ v2\n@@ -1 +1,2 @@\n Be brief.\n+Use ```code``` blocks.\n"
    return ReflectionPublic(
        reflection_id="r-1",
        agent_id="bot",
        suite_id="faq",
        status="completed",
        stop_reason="target_reached",
        baseline=Baseline(
            version=1,
            train_pass_rate=0.5,
            holdout_pass_rate=0.25,
            train_completed=20,
            holdout_completed=20,
        ),
        iterations=[
            Iteration(
                index=1,
                reference_version=1,
                candidates=[
                    Candidate(
                        version=2,
                        rationale=f"Fixes code blocks {XSS}",
                        prompt_diff=diff,
                        train_pass_rate=0.9,
                        train_completed=20,
                        holdout_pass_rate=0.95,
                        holdout_completed=20,
                        p_value=0.0001,
                        verdict="accepted",
                        reason="The holdout improved significantly.",
                    )
                ],
            )
        ],
        accepted_version=2,
        cost_usd=0.0123,
        alpha=0.05 / 3,
        params=ReflectionCreate(suite_id="faq"),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_markdown_shows_each_step_with_its_interval_and_fences_the_diff_safely() -> None:
    out = io.StringIO()
    write_reflection_markdown(out, reflection())
    text = out.getvalue()
    assert "**completed, stopped: target_reached; v2 accepted; cost $0.0123**" in text
    assert "| baseline v1 | — | 50.0% (95% CI 29.9–70.1%) | 25.0% (95% CI" in text
    # "#1" with a zero-width space: GitHub would link issue #1.
    assert "| \\#\u200b1 v2 | accepted | 90.0% (95% CI" in text and "| 0.0001 |" in text
    # The diff holds a triple backtick, so its fence is longer.
    assert "````diff\n--- v1\n+++ v2\n" in text and "+Use ```code``` blocks.\n````" in text
    assert XSS not in text and "&lt;script&gt;" in text


def test_html_escapes_agent_text_and_draws_both_charts() -> None:
    out = io.StringIO()
    write_reflection_html(out, reflection())
    html = out.getvalue()
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="add">+Use ```code``` blocks.</span>' in html
    assert "Train pass rate with 95% Wilson intervals" in html
    assert "Holdout pass rate with 95% Wilson intervals" in html
    assert 'id="outcome">v2 accepted</span>' in html
    assert "http://" not in html and "https://" not in html
