"""The CI gate's pull-request comment: its marker, verdict, figures, flips, and inert text."""

from __future__ import annotations

import io
from typing import Any

from tests.unit.reports.test_report_md_escape import (
    GITHUB_LINKS_IN_TEXT,
    HOSTILE,
    STRUCTURE,
    one_line,
    parse,
    reads_as,
    render,
)

from aifactory.domain.baseline import RunFigures
from aifactory.domain.compare import CaseOutcome
from aifactory.domain.gate import GateReport, gate
from aifactory.reports.gate import MARKER, write_gate_markdown


def figures(statuses: list[tuple[str, str]], *, suite: str = "refunds", **more: Any) -> RunFigures:
    return RunFigures(
        outcomes=[
            CaseOutcome(
                name=name,
                repeat_index=0,
                status=status,  # type: ignore[arg-type]
                score=1.0 if status == "passed" else 0.0,
            )
            for name, status in statuses
        ],
        suite=suite,
        agent=more.pop("agent", "bot"),
        **more,
    )


def markdown(report: GateReport, **kwargs: Any) -> str:
    out = io.StringIO()
    write_gate_markdown(out, report, source=kwargs.pop("source", "base.json"), **kwargs)
    return out.getvalue()


def test_the_comment_starts_with_the_marker_and_says_the_verdict_and_figures() -> None:
    names = [f"case {i}" for i in range(10)]
    base = figures(
        [(n, "passed") for n in names],
        summary={"cost_usd": 0.02, "latency_ms": {"p50": 100.0, "p95": 250.0}},
        metadata={"branch": "main", "commit": "abc123"},
    )
    head = figures(
        [(n, "failed" if i < 6 else "passed") for i, n in enumerate(names)] + [("new", "passed")],
        summary={"cost_usd": 0.03, "latency_ms": {"p50": 150.0, "p95": 200.0}},
    )
    text = markdown(
        gate(base, head),
        failures=["this run is significantly worse than the baseline (--fail-on-regression)"],
        run_report="## refunds — ❌ failed\n\n| metric | value |\n|---|---|\n| cases | 11 |\n",
    )
    assert text.startswith(MARKER + "\n## 🔴 refunds: **regressed** against the baseline")
    assert "**❌ The gate fails:** this run is significantly worse" in text
    assert "| pass rate | 100.0% (95% CI 72.2–100.0%) | 45.5% (95% CI" in text
    assert "| −54.5 pp |" in text
    assert "| cost | $0.0200 | $0.0300 | +$0.0100 (+50.0%) |" in text
    assert "| latency p50 | 100 ms | 150 ms | +50.0 ms (+50.0%) |" in text
    assert "| latency p95 | 250 ms | 200 ms | −50.0 ms (−20.0%) |" in text
    assert "Baseline: base\\.json (agent bot, branch main, commit abc123)." in text
    assert "McNemar's exact test on pass/fail: p = 0.0312" in text
    assert "Mean score difference (this run − baseline)" in text
    assert (
        "### Regressions (6)" in text and "| case | repeat | baseline | this run | score |" in text
    )
    assert "**New in this run** (not compared): new" in text
    assert "<details><summary>This run's report</summary>" in text
    assert text.rstrip().endswith("</details>")


def test_a_passing_gate_says_so_and_unknown_figures_are_dashes() -> None:
    base = figures([("a", "passed")])
    text = markdown(gate(base, figures([("a", "passed")])))
    assert "**✅ The gate passes.**" in text
    assert "| cost | — | — |  |" in text
    assert "<details>" not in text


def test_flips_show_the_first_twenty_then_a_count() -> None:
    names = [f"case {i:02d}" for i in range(25)]
    base = figures([(n, "passed") for n in names])
    head = figures([(n, "failed") for n in names])
    text = markdown(gate(base, head))
    assert "### Regressions (25)" in text
    assert "| case 19 |" in text and "| case 20 |" not in text
    assert "…and 5 more." in text


def test_hostile_names_metadata_and_sources_render_as_text() -> None:
    names = HOSTILE
    base = figures(
        [(n, "passed") for n in names] + [("only base " + HOSTILE[0], "passed")],
        suite="s",
        agent="@alice",
        metadata={"branch": "<b>@bob</b> #3", "commit": "[x](http://evil.example)"},
    )
    head = figures(
        [(n, "failed") for n in names] + [("only head " + HOSTILE[5], "passed")],
        suite="s",
    )
    report = gate(base, head)
    report = GateReport(
        suite="suite " + HOSTILE[2],
        comparison=report.comparison,
        cost_usd=report.cost_usd,
        latency_p50_ms=report.latency_p50_ms,
        latency_p95_ms=report.latency_p95_ms,
        base_metadata=report.base_metadata,
    )
    text = markdown(report, source="see https://evil.example @carol")
    body = text.removeprefix(MARKER + "\n")
    assert MARKER not in body
    html = render(body)
    assert "<a" not in html and "<img" not in html
    page = parse(html)
    assert set(page.tags) <= STRUCTURE, sorted(set(page.tags) - STRUCTURE)
    assert page.comments == []
    rendered = "".join(page.text)
    for pattern in GITHUB_LINKS_IN_TEXT:
        assert not pattern.search(rendered), (pattern.pattern, rendered)
    cells = [reads_as(c) for c in page.cells]
    for name in names:
        assert one_line(name) in cells
    seen = reads_as(rendered)
    assert "see https://evil.example @carol (agent @alice" in seen
    assert "branch <b>@bob</b> #3" in seen
    assert one_line("only head " + HOSTILE[5]) in seen
