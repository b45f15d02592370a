"""A comparison of two runs as Markdown (a pull-request comment) and as one offline HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO

from aifactory import __version__
from aifactory.domain.compare import Comparison, Flip, RunBrief
from aifactory.domain.models import Interval
from aifactory.reports import charts
from aifactory.reports.html import ci_text, environment, pct, style
from aifactory.reports.md_escape import md_text

MAX_FLIPS_SHOWN = 50
VERDICT_ICON = {"improved": "🟢", "regressed": "🔴", "no significant change": "⚪"}
VERDICT_CLASS = {
    "improved": "improved",
    "regressed": "regressed",
    "no significant change": "neutral",
}


def _cell(text: str, limit: int = 160) -> str:
    """Text safe inside a Markdown table cell (see :func:`md_text`)."""
    return md_text(text, limit)


def _label(run: RunBrief) -> str:
    return run.name or f"{run.agent_id} v{run.agent_version}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def _signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f} pp"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _p(value: float) -> str:
    return f"{value:.2g}" if value < 0.001 else f"{value:.4f}"


def _diff_ci(comparison: Comparison) -> str:
    diff = comparison.score_diff
    if diff.ci_low is None or diff.ci_high is None:
        return "no pairs"
    method = "paired bootstrap" if diff.method == "bootstrap" else "normal limit"
    return f"95% CI {diff.ci_low:+.3f} to {diff.ci_high:+.3f} ({method})"


def _cohens_d(comparison: Comparison) -> str:
    d = comparison.effect_size.cohens_d
    return "—" if d is None else f"{d:+.2f}"


def write_flips(
    out: IO[str],
    flips: list[Flip],
    *,
    limit: int = MAX_FLIPS_SHOWN,
    columns: tuple[str, str] = ("base", "head"),
) -> None:
    """A table of the first ``limit`` flips (case names escaped), then how many more there are."""
    out.write(f"| case | repeat | {columns[0]} | {columns[1]} | score |\n|---|---|---|---|---|\n")
    for flip in flips[:limit]:
        out.write(
            f"| {_cell(flip.name)} | {flip.repeat_index} | {flip.base_status} | "
            f"{flip.head_status} | {flip.base_score:.2f} → {flip.head_score:.2f} |\n"
        )
    if len(flips) > limit:
        out.write(f"\n…and {len(flips) - limit} more.\n")


def write_findings(out: IO[str], comparison: Comparison, *, sides: tuple[str, str]) -> None:
    """The comparison's tests as a list: pairs and flips, McNemar, the score interval, the
    effect size and the unpaired cases; ``sides`` names base and head ("base", "head")."""
    c = comparison
    base, head = sides
    out.write(
        f"- **{c.pairs}** paired cases: **{c.mcnemar.b}** regressed (passed → not passed), "
        f"**{c.mcnemar.c}** improved.\n"
        f"- McNemar's exact test on pass/fail: p = {_p(c.mcnemar.p_value)} (α = {c.alpha}).\n"
        f"- Mean score difference ({head} − {base}): {_signed(c.score_diff.mean)}, "
        f"{_diff_ci(c)}.\n"
        f"- Effect size: Cohen's d = {_cohens_d(c)}; pass-rate difference "
        f"{_signed_pct(c.effect_size.pass_rate_diff)}.\n"
    )
    if c.only_in_base or c.only_in_head:
        out.write(
            f"- Unpaired: {len(c.only_in_base)} only in {base}, {len(c.only_in_head)} only in "
            f"{head} (left out of the tests).\n"
        )


def write_comparison_markdown(out: IO[str], comparison: Comparison) -> None:
    """Write the comparison as Markdown that reads well as a pull-request comment."""
    c = comparison
    base, head = c.base, c.head
    out.write(
        f"## {VERDICT_ICON[c.verdict]} {_cell(_label(base))} → {_cell(_label(head))}: "
        f"**{c.verdict}**\n\n"
    )
    out.write("| | base | head |\n|---|---|---|\n")
    out.write(f"| run | `{base.run_id}` | `{head.run_id}` |\n")
    out.write(
        f"| agent | {_cell(base.agent_id)} v{base.agent_version} | "
        f"{_cell(head.agent_id)} v{head.agent_version} |\n"
    )
    out.write(
        f"| pass rate | {pct(base.pass_rate)} {_ci(base.pass_rate_ci)} | "
        f"{pct(head.pass_rate)} {_ci(head.pass_rate_ci)} |\n"
    )
    out.write(f"| mean score | {_score(base.mean_score)} | {_score(head.mean_score)} |\n")
    out.write(f"| cases | {base.completed} | {head.completed} |\n\n")
    write_findings(out, c, sides=("base", "head"))
    if c.regressions:
        out.write(f"\n### Regressions ({len(c.regressions)})\n\n")
        write_flips(out, c.regressions)
    if c.improvements:
        out.write(f"\n### Improvements ({len(c.improvements)})\n\n")
        write_flips(out, c.improvements)


def _ci(interval: Interval | None) -> str:
    text = ci_text(interval)
    return f"({text})" if text else ""


def write_comparison_html(out: IO[str], comparison: Comparison) -> None:
    """Write the comparison as one self-contained HTML file (escaped, no URL, opens offline)."""
    c = comparison
    diff = c.score_diff
    diff_chart = None
    if diff.mean is not None and diff.ci_low is not None and diff.ci_high is not None:
        span = max(0.1, abs(diff.ci_low), abs(diff.ci_high)) * 1.2
        diff_chart = charts.interval_plot(
            diff.mean, diff.ci_low, diff.ci_high, span=span, title="Mean score difference"
        )
    context = {
        "version": __version__,
        "style": style(),
        "c": c,
        "base_label": _label(c.base),
        "head_label": _label(c.head),
        "verdict_class": VERDICT_CLASS[c.verdict],
        "p_value": _p(c.mcnemar.p_value),
        "diff_ci": _diff_ci(c),
        "cohens_d": _cohens_d(c),
        "diff_chart": diff_chart,
        "runs": [("base", c.base), ("head", c.head)],
        "pct": pct,
        "ci": ci_text,
        "score": _score,
        "signed": _signed,
        "signed_pct": _signed_pct,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    for chunk in environment().get_template("compare.html.j2").generate(**context):
        out.write(chunk)
