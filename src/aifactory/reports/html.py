"""The HTML report of a run: one self-contained file that opens offline.

Inline CSS, a few lines of inline JS (filters) and inline SVG charts; no URL anywhere. Agent
output, case names, reasons and tags are untrusted text: the templates are Jinja2 with autoescape
on, and the SVG helpers escape their labels, so ``<script>`` in an output shows as text.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import IO, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from aifactory import __version__
from aifactory.domain.models import Interval, RunSummary, TestResult
from aifactory.domain.stop_reasons import stop_reason_words
from aifactory.domain.turn_failures import failing_turn, judged_scope
from aifactory.reports import charts

HISTOGRAM_BINS = 10

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The report is static: it may run its own inline filter script and nothing else."""


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescape always on)."""
    return Environment(
        loader=PackageLoader("aifactory.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


@functools.cache
def style() -> Markup:
    """The reports' stylesheet, trusted (it ships with the package)."""
    css = resources.files("aifactory.reports").joinpath("templates/_style.css")
    return Markup(css.read_text(encoding="utf-8"))


def score_histogram(scores: Iterable[float], *, bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of scores in ``bins`` equal bins over [0, 1] (a score of 1 falls in the last)."""
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, max(0, int(score * bins)))] += 1
    return counts


def pct(value: float | None) -> str:
    """A proportion as a percentage, or a dash."""
    return "—" if value is None else f"{value * 100:.1f}%"


def ci_text(interval: Interval | dict[str, Any] | None, *, percent: bool = True) -> str:
    """``95% CI low–high`` for an interval (or its dict form), empty when there is none."""
    if interval is None:
        return ""
    low, high = (
        (interval.low, interval.high)
        if isinstance(interval, Interval)
        else (interval["low"], interval["high"])
    )
    if percent:
        return f"95% CI {low * 100:.1f}–{high * 100:.1f}%"
    return f"95% CI {low:.3f}–{high:.3f}"


def _reason(result: TestResult) -> str:
    if result.status == "error" and result.error:
        return result.error
    return result.feedback or result.status


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _case(result: TestResult) -> dict[str, Any]:
    case = result.test_case
    input_text = case.input_as_text()
    reason = _reason(result)
    return {
        "name": case.name,
        "status": result.status,
        "repeat_index": result.repeat_index,
        "score": f"{result.score:.2f}",
        "tags": ", ".join(case.tags),
        "reason_short": _short(reason),
        "error": result.error,
        "feedback": result.feedback,
        "input": input_text,
        "expected": case.expected,
        "output": result.output,
        "latency": f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "",
        "checks": result.checks,
        "conversation": _conversation(result),
    }


def _conversation(result: TestResult) -> dict[str, Any] | None:
    """A conversation's transcript and how it ended; None for a single-turn case."""
    if result.transcript is None:
        return None
    turns = result.turns or 0
    turn = failing_turn(result)
    return {
        "transcript": result.transcript,
        "summary": (
            f"{turns} agent repl{'y' if turns == 1 else 'ies'} · ended: "
            f"{stop_reason_words(result.stop_reason)}"
        ),
        "stop": stop_reason_words(result.stop_reason),
        "failing": (
            "" if not turn else "the whole conversation" if turn == "all" else f"turn {turn}"
        ),
        "user": result.test_case.simulated_user,
        "scopes": [judged_scope(spec) for spec in result.test_case.checks],
    }


def _conversation_cards(summary: RunSummary) -> list[tuple[str, str, str]]:
    """The summary's cards on the run's conversations: ``(title, value, note)``."""
    talks = summary.conversations
    if talks is None or not talks.total:
        return []
    cards = [
        (
            "Conversations passed",
            f"{talks.passed} / {talks.total}",
            f"{pct(talks.pass_rate)} · {ci_text(talks.pass_rate_ci)}",
        )
    ]
    if talks.mean_turns is not None:
        ended = ", ".join(
            f"{stop_reason_words(reason)} {n}" for reason, n in talks.stop_reasons.items()
        )
        cards.append(("Agent replies per conversation", f"{talks.mean_turns:.1f}", ended))
    for turn, row in talks.by_turn.items():
        cards.append((f"Turn {turn} passed", pct(row.pass_rate), f"{row.passed} of {row.total}"))
    if talks.mean_turns_to_goal is not None:
        goal_ci = talks.turns_to_goal_ci
        note = f"{talks.goal_reached} of {talks.simulated} reached their goal"
        if goal_ci is not None:
            note += f" · 95% CI {goal_ci.low:.1f}–{goal_ci.high:.1f}"
        cards.append(("Turns to goal", f"{talks.mean_turns_to_goal:.1f}", note))
    return cards


def _cases(results: Iterable[TestResult]) -> Iterator[dict[str, Any]]:
    for result in results:
        yield _case(result)


def _tag_rows(summary: RunSummary) -> list[dict[str, Any]]:
    rows = []
    for tag, row in summary.by_tag.items():
        rows.append(
            {
                "tag": tag,
                "passed": row.get("passed", 0),
                "total": row.get("total", 0),
                "rate": pct(row.get("pass_rate")),
                "ci": ci_text(row.get("pass_rate_ci")),
                "ci_raw": row.get("pass_rate_ci"),
                "rate_raw": row.get("pass_rate"),
            }
        )
    return rows


def _tag_chart(rows: Sequence[dict[str, Any]]) -> Markup | None:
    bars = []
    for row in rows:
        rate, ci = row["rate_raw"], row["ci_raw"]
        if rate is None or ci is None:
            continue
        bars.append(
            charts.RateBar(
                label=row["tag"],
                value=rate,
                low=ci["low"],
                high=ci["high"],
                note=f"({row['passed']}/{row['total']})",
            )
        )
    return charts.rate_bars(bars, title="Pass rate by tag") if bars else None


def _latency_chart(latency: dict[str, float]) -> Markup | None:
    keys = [k for k in ("avg", "p50", "p95", "p99", "max") if k in latency]
    if not keys:
        return None
    return charts.value_bars([(k, latency[k]) for k in keys], unit="ms", title="Latency")


def _cost(summary: RunSummary) -> tuple[str, str]:
    cost = "—" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
    tokens = f"agent {summary.usage.input_tokens:,} in / {summary.usage.output_tokens:,} out tokens"
    if summary.judge_usage.input_tokens or summary.judge_usage.output_tokens:
        tokens += (
            f"; judge {summary.judge_usage.input_tokens:,} in / "
            f"{summary.judge_usage.output_tokens:,} out"
        )
    return cost, tokens


def _outcome(summary: RunSummary) -> tuple[str, str]:
    if summary.completed == 0:
        return "no results", "neutral"
    if summary.errored:
        return "errors", "error"
    if summary.failed:
        return "failed", "failed"
    return "passed", "passed"


def write_html(
    out: IO[str],
    results: Iterable[TestResult],
    summary: RunSummary,
    *,
    title: str,
    meta: Sequence[tuple[str, Any]] = (),
    histogram: Sequence[int] | None = None,
) -> None:
    """Write the run's HTML report to ``out``.

    Args:
        out: Where to write (text).
        results: The run's results, every one listed (collapsed, with a filter by status and
            text); rendered in the order given, streamed, so callers put the errors and
            failures first.
        summary: The run's summary (pass rate and score with intervals, latency, cost, tags).
        title: The report's heading (suite or run name).
        meta: Pairs shown under the title (agent, version, run id, dates).
        histogram: Score counts in :data:`HISTOGRAM_BINS` bins over [0, 1]
            (:func:`score_histogram`); no score chart when absent.
    """
    tag_rows = _tag_rows(summary)
    outcome, outcome_class = _outcome(summary)
    cost, tokens = _cost(summary)
    lat = summary.latency_ms
    context = {
        "version": __version__,
        "style": style(),
        "title": title,
        "meta": [(k, v) for k, v in meta if v is not None],
        "outcome": outcome,
        "outcome_class": outcome_class,
        "s": summary,
        "pass_rate": pct(summary.pass_rate),
        "pass_rate_ci": ci_text(summary.pass_rate_ci),
        "mean_score": "—" if summary.mean_score is None else f"{summary.mean_score:.3f}",
        "score_ci": ci_text(summary.score_ci, percent=False),
        "latency": f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} ms" if lat else "—",
        "latency_note": f"avg {lat['avg']:.0f} ms · max {lat['max']:.0f} ms" if lat else "",
        "cost": cost,
        "tokens": tokens,
        "pass_at_k": [(k, pct(v)) for k, v in summary.pass_at_k.items()],
        "conversation_cards": _conversation_cards(summary),
        "tags": tag_rows,
        "tag_chart": _tag_chart(tag_rows),
        "score_chart": (
            charts.histogram(histogram, low=0.0, high=1.0, title="Score distribution")
            if histogram is not None and any(histogram)
            else None
        ),
        "latency_chart": _latency_chart(lat),
        "cases": _cases(results),
        "all_passed": summary.completed > 0 and not summary.failed and not summary.errored,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    for chunk in environment().get_template("run.html.j2").generate(**context):
        out.write(chunk)
