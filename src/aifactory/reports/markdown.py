"""A Markdown summary that reads well as a pull-request comment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from aifactory.domain.models import Interval, RunSummary, TestResult
from aifactory.reports.md_escape import md_text

MAX_FAILURES_SHOWN = 50


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ci(interval: Interval | None, *, percent: bool = True) -> str:
    if interval is None:
        return ""
    if percent:
        return f" (95% CI {interval.low * 100:.1f}–{interval.high * 100:.1f}%)"
    return f" (95% CI {interval.low:.3f}–{interval.high:.3f})"


def _cell(text: str, limit: int = 160) -> str:
    return md_text(text, limit)


def write_markdown(
    out: IO[str],
    results: Iterable[TestResult],
    summary: RunSummary,
    *,
    title: str,
    more: int = 0,
) -> None:
    """Write the run's summary and its failures (the first few) as Markdown.

    ``more`` counts failures the caller left out of ``results`` (shown as "…and N more").
    """
    verdict = "✅ passed" if summary.failed == 0 and summary.errored == 0 else "❌ failed"
    out.write(f"## {_cell(title)} — {verdict}\n\n")
    out.write("| metric | value |\n|---|---|\n")
    out.write(f"| cases | {summary.completed} of {summary.total} |\n")
    out.write(
        f"| passed | {summary.passed} ({_pct(summary.pass_rate)}{_ci(summary.pass_rate_ci)}) |\n"
    )
    out.write(f"| failed | {summary.failed} |\n| errors | {summary.errored} |\n")
    if summary.mean_score is not None:
        out.write(
            f"| mean score | {summary.mean_score:.3f}{_ci(summary.score_ci, percent=False)} |\n"
        )
    if summary.latency_ms:
        lat = summary.latency_ms
        out.write(
            f"| latency p50 / p95 / p99 | {lat['p50']:.0f} / {lat['p95']:.0f} / "
            f"{lat['p99']:.0f} ms |\n"
        )
    if summary.cost_usd is not None:
        out.write(f"| cost | ${summary.cost_usd:.4f} |\n")
    if summary.stopped_reason:
        out.write(f"| stopped | {_cell(summary.stopped_reason)} |\n")
    if summary.by_tag:
        out.write("\n| tag | pass rate | cases |\n|---|---|---|\n")
        for tag, row in summary.by_tag.items():
            out.write(f"| {_cell(tag)} | {_pct(row['pass_rate'])} | {row['total']} |\n")
    if summary.flaky_cases:
        out.write("\n**Flaky cases:** " + ", ".join(_cell(n) for n in summary.flaky_cases) + "\n")
    shown = 0
    header = False
    hidden = 0
    for result in results:
        if result.status == "passed":
            continue
        if shown >= MAX_FAILURES_SHOWN:
            hidden += 1
            continue
        if not header:
            out.write("\n### Failures\n\n| case | status | score | reason |\n|---|---|---|---|\n")
            header = True
        reason = result.error if result.status == "error" and result.error else result.feedback
        out.write(
            f"| {_cell(result.test_case.name)} | {result.status} | {result.score:.2f} | "
            f"{_cell(reason or '')} |\n"
        )
        shown += 1
    hidden += more
    if hidden:
        out.write(f"\n…and {hidden} more.\n")
