"""A comparison rendered as Markdown and as offline HTML."""

from __future__ import annotations

import io
import re

from tests.unit.reports.helpers import XSS, probe

from aifactory.domain.compare import CaseOutcome, Comparison, RunBrief, compare_outcomes
from aifactory.reports.comparison import write_comparison_html, write_comparison_markdown


def comparison() -> Comparison:
    names = [f"case {i}" for i in range(19)] + [f"evil {XSS}"]
    base = [CaseOutcome(name=n, repeat_index=0, status="passed", score=1.0) for n in names]
    head = [
        CaseOutcome(name=n, repeat_index=0, status="failed" if i % 2 else "passed", score=0.0)
        for i, n in enumerate(names)
    ]
    paired = compare_outcomes(base, head)
    brief = {"agent_id": "bot", "status": "completed", "completed": 20}
    return Comparison(
        base=RunBrief(run_id="base-run", agent_version=1, name="v1 | old", passed=20, **brief),
        head=RunBrief(run_id="head-run", agent_version=2, passed=10, **brief),
        **dict(paired),
    )


def test_markdown_states_the_verdict_the_test_and_the_regressions() -> None:
    out = io.StringIO()
    write_comparison_markdown(out, comparison())
    text = out.getvalue()
    assert text.startswith("## 🔴 v1 \\| old → bot v2: **regressed**")
    assert "**10** regressed (passed → not passed), **0** improved" in text
    assert "McNemar's exact test on pass/fail: p = 0.002" in text
    assert "### Regressions (10)" in text
    assert "evil &lt;script&gt;" in text and "<script>" not in text
    assert "| case 1 | 0 | passed | failed | 1.00 → 0.00 |" in text


def test_html_is_escaped_offline_and_structured() -> None:
    out = io.StringIO()
    write_comparison_html(out, comparison())
    document = out.getvalue()
    page = probe(document)
    assert page.count("script") == 0
    assert XSS not in document and "&lt;script&gt;" in document
    assert not re.search(r"https?:|url\(", document)
    verdict = [a for t, a in page.tags if a.get("id") == "verdict"]
    assert verdict and "regressed" in (verdict[0].get("class") or "")
    assert page.count("table", **{"class": "flips"}) == 1  # regressions only
    assert page.count("svg") == 1  # the score difference and its interval
    text = " ".join(page.text)
    assert "No case went from not passed to passed." in text
