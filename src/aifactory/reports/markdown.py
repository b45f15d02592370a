"""A Markdown summary that reads well as a pull-request comment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from aifactory.domain.models import Interval, RunSummary, TestResult
from aifactory.domain.stop_reasons import stop_reason_words
from aifactory.domain.turn_failures import failing_turn
from aifactory.reports.md_escape import md_text

MAX_FAILURES_SHOWN = 50
MAX_CONVERSATIONS_SHOWN = 10
"""Failing conversations whose transcript the report shows (each collapsed)."""
MAX_MESSAGES_SHOWN = 40
"""Messages of one transcript shown; the rest are counted."""


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
    _conversation_rows(out, summary)
    if summary.by_tag:
        out.write("\n| tag | pass rate | cases |\n|---|---|---|\n")
        for tag, row in summary.by_tag.items():
            out.write(f"| {_cell(tag)} | {_pct(row['pass_rate'])} | {row['total']} |\n")
    if summary.flaky_cases:
        out.write("\n**Flaky cases:** " + ", ".join(_cell(n) for n in summary.flaky_cases) + "\n")
    shown = 0
    header = False
    hidden = 0
    conversations: list[TestResult] = []
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
            f"| {_case_cell(result)} | {result.status} | {result.score:.2f} | "
            f"{_cell(reason or '')} |\n"
        )
        shown += 1
        if result.transcript is not None and len(conversations) < MAX_CONVERSATIONS_SHOWN:
            conversations.append(result)
    hidden += more
    if hidden:
        out.write(f"\n…and {hidden} more.\n")
    if conversations:
        out.write("\n### Failing conversations\n")
        for result in conversations:
            _write_transcript(out, result)


def _case_cell(result: TestResult) -> str:
    """The case's name, and for a conversation the turn that failed."""
    turn = failing_turn(result)
    if not turn:
        return _cell(result.test_case.name)
    where = "whole conversation" if turn == "all" else f"turn {turn}"
    return f"{_cell(result.test_case.name)} · {where}"


def _conversation_rows(out: IO[str], summary: RunSummary) -> None:
    """The summary table's rows on the run's conversations, when it had any."""
    talks = summary.conversations
    if talks is None or not talks.total:
        return
    out.write(
        f"| conversations passed | {talks.passed} of {talks.total} "
        f"({_pct(talks.pass_rate)}{_ci(talks.pass_rate_ci)}) |\n"
    )
    if talks.mean_turns is not None:
        out.write(f"| agent replies per conversation | {talks.mean_turns:.1f} |\n")
    if talks.stop_reasons:
        ended = ", ".join(
            f"{stop_reason_words(reason)} {n}" for reason, n in talks.stop_reasons.items()
        )
        out.write(f"| conversations ended | {_cell(ended)} |\n")
    for turn, row in talks.by_turn.items():
        out.write(
            f"| turn {_cell(turn)} passed its checks | {row.passed} of {row.total} "
            f"({_pct(row.pass_rate)}) |\n"
        )
    if talks.mean_turns_to_goal is not None:
        goal_ci = talks.turns_to_goal_ci
        interval = f" (95% CI {goal_ci.low:.1f}–{goal_ci.high:.1f})" if goal_ci else ""
        out.write(
            f"| turns to goal | {talks.mean_turns_to_goal:.1f}{interval}, "
            f"{talks.goal_reached} of {talks.simulated} reached |\n"
        )


def _checks_cell(result: TestResult, index: int) -> str:
    assert result.transcript is not None
    checks = result.transcript[index].checks
    return "<br>".join(
        f"{'✅' if c.passed else '❌'} {_cell(c.type, 60)}"
        + ("" if c.passed else f": {_cell(c.reason, 160)}")
        for c in checks
    )


def _write_transcript(out: IO[str], result: TestResult) -> None:
    """A failing conversation: a heading, then its transcript as a collapsed table."""
    transcript = result.transcript or []
    turns = result.turns or 0
    out.write(
        f"\n**{_cell(result.test_case.name)}** — {result.status}, "
        f"{turns} agent repl{'y' if turns == 1 else 'ies'}, "
        f"ended: {stop_reason_words(result.stop_reason)}\n\n"
    )
    out.write(f"<details><summary>Transcript ({len(transcript)} messages)</summary>\n\n")
    out.write("| turn | who | message | checks |\n|---|---|---|---|\n")
    for index, entry in enumerate(transcript[:MAX_MESSAGES_SHOWN]):
        who = {"user": "user", "assistant": "agent"}.get(entry.role, "—")
        turn = "" if entry.turn is None else str(entry.turn)
        out.write(
            f"| {turn} | {who} | {_cell(entry.content, 300)} | {_checks_cell(result, index)} |\n"
        )
    if len(transcript) > MAX_MESSAGES_SHOWN:
        out.write(f"\n…and {len(transcript) - MAX_MESSAGES_SHOWN} more messages.\n")
    out.write("\n</details>\n")
