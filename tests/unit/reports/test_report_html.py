"""The HTML run report: self-contained, structured, and safe against hostile agent output."""

from __future__ import annotations

import io
import re

from tests.unit.reports.helpers import XSS, probe, sample, summarize

from aifactory.reports.html import score_histogram, write_html


def render(**overrides: object) -> str:
    results = sample()
    out = io.StringIO()
    kwargs: dict[str, object] = {
        "title": "refund suite",
        "meta": [("agent", "bot v1"), ("run", "run-1")],
        "histogram": score_histogram(r.score for r in results),
    }
    kwargs.update(overrides)
    write_html(out, results, summarize(results), **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def test_agent_output_and_case_names_show_as_text_never_as_markup() -> None:
    document = render()
    page = probe(document)
    # Exactly one script element: the report's own filter, which holds no agent text.
    assert page.count("script") == 1
    assert "alert" not in "".join(page.scripts)
    text = "".join(page.text)
    assert f"I say {XSS} & more" in text
    assert f"evil {XSS}" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert XSS not in document


def test_the_report_names_no_url_and_loads_nothing() -> None:
    document = render()
    page = probe(document)
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "xmlns", "data", "srcset"):
            assert name not in attrs, (tag, attrs)
    assert page.count("link") == 0 and page.count("img") == 0 and page.count("iframe") == 0
    assert not re.search(r"https?:|//[a-z]|url\(", document, re.IGNORECASE)


def test_summary_charts_and_every_case_are_there() -> None:
    document = render()
    page = probe(document)
    text = " ".join(" ".join(page.text).split())
    for section in ("summary", "charts", "tags", "results"):
        assert page.count("section") and any(
            t == "section" and a.get("id") == section for t, a in page.tags
        ), section
    assert "40.0%" in text  # 2 of 5 passed
    assert "95% CI" in text
    assert "2 passed" in text and "2 failed" in text and "1 errors" in text
    assert "$0.0050" in text  # cost of five results
    # Pass rate by tag with interval whiskers, a score histogram, latency bars.
    assert page.count("svg", **{"class": "chart"}) == 3
    assert page.count("line", **{"class": "wh"}) == 3 * 2  # two tags, three lines each
    assert "Score distribution" in text
    # Every case, passed ones too, each with output, checks and reasons, all collapsed.
    cases = [a for t, a in page.tags if t == "details"]
    assert [a.get("class") for a in cases] == ["case"] * 5
    assert [a.get("data-status") for a in cases] == [
        "passed",
        "failed",
        "error",
        "passed",
        "failed",
    ]
    assert not any("open" in a for a in cases)
    assert "did not contain '30 days'" in text
    assert "agent timed out" in text
    assert "found it" in text  # a passed case's check reason
    assert page.count("table", **{"class": "checks"}) == 5
    assert "case 0" in text and "case 3" in text
    # The filter covers every status, all shown at first.
    boxes = {a.get("value"): a for t, a in page.tags if a.get("class") == "filter-status"}
    assert set(boxes) == {"failed", "error", "passed"}
    assert all("checked" in box for box in boxes.values())


def test_a_run_where_everything_passed_says_so_and_lists_them() -> None:
    results = [r for r in sample() if r.status == "passed"]
    out = io.StringIO()
    write_html(out, results, summarize(results), title="green")
    page = probe(out.getvalue())
    assert "Every case passed." in "".join(page.text)
    assert [a.get("data-status") for t, a in page.tags if t == "details"] == ["passed"] * 2


def test_score_histogram_bins() -> None:
    assert score_histogram([0.0, 0.05, 0.5, 0.99, 1.0], bins=10) == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
