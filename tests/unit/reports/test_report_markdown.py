"""Markdown run reports for pull-request comments."""

from __future__ import annotations

import io

from tests.unit.reports.helpers import sample, summarize

from aifactory.reports.markdown import write_markdown


def test_summary_and_failures_as_tables_with_escaped_cells() -> None:
    results = sample()
    out = io.StringIO()
    write_markdown(out, results, summarize(results), title="refund suite")
    text = out.getvalue()
    assert text.startswith("## refund suite — ❌ failed")
    assert "| passed | 2 (40.0% (95% CI" in text
    assert "### Failures" in text
    assert "evil &lt;script&gt;alert\\(1\\)&lt;\\/script&gt;" in text
    assert "<script>" not in text
    assert "| case | status | score | reason |" in text
    assert "| case 2 | error | 0.25 | agent timed out |" in text


def test_failures_left_out_by_the_caller_are_counted() -> None:
    results = sample()
    only_first = [r for r in results if r.status != "passed"][:1]
    out = io.StringIO()
    write_markdown(out, only_first, summarize(results), title="t", more=2)
    assert out.getvalue().rstrip().endswith("…and 2 more.")
