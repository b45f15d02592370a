"""A reflection as Markdown and as one offline HTML file: pass rates per step with intervals,
each candidate's verdict and why, and its prompt diff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from aifactory import __version__
from aifactory.domain import stats
from aifactory.domain.models import Interval
from aifactory.domain.reflection import Candidate, ReflectionPublic
from aifactory.reports import charts
from aifactory.reports.html import ci_text, environment, pct, style
from aifactory.reports.md_escape import code_fence, md_text

VERDICT_CLASS = {"accepted": "improved", "rejected": "regressed", "not_evaluated": "neutral"}


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the pass-rate tables: the baseline or a candidate."""

    label: str
    iteration: int | None
    candidate: Candidate | None
    train_rate: float | None
    train_ci: Interval | None
    holdout_rate: float | None
    holdout_ci: Interval | None


def _interval(rate: float | None, completed: int | None) -> Interval | None:
    if rate is None or not completed:
        return None
    return stats.wilson_interval(round(rate * completed), completed)


def steps(reflection: ReflectionPublic) -> list[Step]:
    """The baseline, then every candidate in order, with Wilson intervals on their pass rates."""
    rows: list[Step] = []
    b = reflection.baseline
    if b is not None:
        rows.append(
            Step(
                label=f"baseline v{b.version}",
                iteration=None,
                candidate=None,
                train_rate=b.train_pass_rate,
                train_ci=_interval(b.train_pass_rate, b.train_completed),
                holdout_rate=b.holdout_pass_rate,
                holdout_ci=_interval(b.holdout_pass_rate, b.holdout_completed),
            )
        )
    for it in reflection.iterations:
        for n, c in enumerate(it.candidates, start=1):
            rows.append(
                Step(
                    label=f"#{it.index} v{c.version}" if c.version else f"#{it.index}.{n}",
                    iteration=it.index,
                    candidate=c,
                    train_rate=c.train_pass_rate,
                    train_ci=_interval(c.train_pass_rate, c.train_completed),
                    holdout_rate=c.holdout_pass_rate,
                    holdout_ci=_interval(c.holdout_pass_rate, c.holdout_completed),
                )
            )
    return rows


def _cell(text: str | None, limit: int = 200) -> str:
    return md_text(text, limit)


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.4f}"


def _rate(rate: float | None, ci: Interval | None) -> str:
    text = ci_text(ci)
    return f"{pct(rate)} ({text})" if text else pct(rate)


def _outcome(r: ReflectionPublic) -> str:
    accepted = f"v{r.accepted_version} accepted" if r.accepted_version else "no version accepted"
    return f"{r.status}, stopped: {r.stop_reason or '—'}; {accepted}; cost ${r.cost_usd:.4f}"


def write_reflection_markdown(out: IO[str], r: ReflectionPublic) -> None:
    """Write the reflection as Markdown."""
    out.write(f"## Reflection of {_cell(r.agent_id)} on {_cell(r.suite_id)}\n\n")
    out.write(f"**{_outcome(r)}**\n\n")
    if r.error:
        out.write(f"> {_cell(r.error, 600)}\n\n")
    out.write(
        f"Holdout tests at α = {r.alpha:.3g} (0.05 over {r.params.max_iterations} iteration(s)); "
        f"holdout share {r.params.holdout:.0%}.\n\n"
    )
    out.write("| step | verdict | train pass rate | holdout pass rate | p | why |\n")
    out.write("|---|---|---|---|---|---|\n")
    for s in steps(r):
        c = s.candidate
        out.write(
            f"| {_cell(s.label)} | {c.verdict if c else '—'} | {_rate(s.train_rate, s.train_ci)} | "
            f"{_rate(s.holdout_rate, s.holdout_ci)} | {_p(c.p_value if c else None)} | "
            f"{_cell(c.reason if c else '', 300)} |\n"
        )
    for it in r.iterations:
        out.write(f"\n### Iteration {it.index} (from v{it.reference_version})\n")
        for n, c in enumerate(it.candidates, start=1):
            name = f"v{c.version}" if c.version else f"suggestion {n}"
            out.write(f"\n#### {name}: {c.verdict}\n\n")
            if c.rationale:
                out.write(f"*Rationale:* {_cell(c.rationale, 1000)}\n\n")
            change = c.prompt_diff if c.prompt_diff is not None else c.suggestion
            if change:
                fence = code_fence(change)
                lang = "diff" if c.prompt_diff is not None else "text"
                out.write(f"{fence}{lang}\n{change.rstrip()}\n{fence}\n")


def write_reflection_html(out: IO[str], r: ReflectionPublic) -> None:
    """Write the reflection as one self-contained HTML file (escaped, no URL, opens offline)."""
    rows = steps(r)
    train_bars = [
        charts.RateBar(s.label, s.train_rate, s.train_ci.low, s.train_ci.high)
        for s in rows
        if s.train_rate is not None and s.train_ci is not None
    ]
    holdout_bars = [
        charts.RateBar(s.label, s.holdout_rate, s.holdout_ci.low, s.holdout_ci.high)
        for s in rows
        if s.holdout_rate is not None and s.holdout_ci is not None
    ]
    context = {
        "version": __version__,
        "style": style(),
        "r": r,
        "rows": rows,
        "outcome": _outcome(r),
        "train_chart": (
            charts.rate_bars(train_bars, title="Train pass rate") if train_bars else None
        ),
        "holdout_chart": (
            charts.rate_bars(holdout_bars, title="Holdout pass rate") if holdout_bars else None
        ),
        "verdict_class": VERDICT_CLASS,
        "pct": pct,
        "ci": ci_text,
        "p": _p,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    for chunk in environment().get_template("reflection.html.j2").generate(**context):
        out.write(chunk)
