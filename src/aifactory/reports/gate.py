"""The CI gate's pull-request comment: this run against its baseline, as Markdown.

The comment starts with :data:`MARKER`, an HTML comment GitHub does not show, by which the
GitHub Action finds its own comment on a pull request and edits it instead of adding another.
Every value an agent, a judge or a case author controls (case and suite names, agent ids,
metadata, the run's report below) goes through :func:`~aifactory.reports.md_escape.md_text`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO

from aifactory.domain.compare import CaseKey
from aifactory.domain.gate import BASE_NAME, HEAD_NAME, Delta, GateReport
from aifactory.reports.comparison import VERDICT_ICON, write_findings, write_flips
from aifactory.reports.html import ci_text, pct
from aifactory.reports.md_escape import md_text

MARKER = "<!-- aifactory-gate -->"
"""The first line of every gate comment."""
FLIPS_SHOWN = 20
SHOWN_METADATA = ("branch", "commit", "sha", "pr")


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _millis(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _money(value: float | None) -> str:
    return "—" if value is None else _usd(value)


def _ms(value: float | None) -> str:
    return "—" if value is None else _millis(value)


def _signed(value: float, show: Callable[[float], str]) -> str:
    return ("+" if value >= 0 else "−") + show(abs(value))


def _change(delta: Delta, show: Callable[[float], str]) -> str:
    """This run's figure minus the baseline's, and that as a share of the baseline's."""
    change = delta.change
    if change is None:
        return ""
    relative = delta.relative
    share = "" if relative is None else f" ({_signed(relative * 100, '{:.1f}%'.format)})"
    return _signed(change, show) + share


def _pp(base: float | None, head: float | None) -> str:
    if base is None or head is None:
        return ""
    return _signed((head - base) * 100, "{:.1f} pp".format)


def _ci(text: str) -> str:
    return f" ({text})" if text else ""


def describe_baseline(report: GateReport, source: str) -> str:
    """One line saying which run the baseline is: its source and its metadata (escaped)."""
    base = report.comparison.base
    agent = md_text(base.agent_id)
    if base.agent_version:
        agent += f" v{base.agent_version}"
    tags = [
        f"{md_text(key)} {md_text(str(report.base_metadata[key]), 80)}"
        for key in SHOWN_METADATA
        if report.base_metadata.get(key) not in (None, "")
    ]
    extra = f", {', '.join(tags)}" if tags else ""
    return f"{md_text(source, 200)} (agent {agent}{extra})"


def _names(keys: Sequence[CaseKey]) -> str:
    shown = ", ".join(
        md_text(k.name, 160) + (f" (repeat {k.repeat_index})" if k.repeat_index else "")
        for k in keys[:FLIPS_SHOWN]
    )
    more = len(keys) - FLIPS_SHOWN
    return f"{shown} …and {more} more" if more > 0 else shown


def write_gate_markdown(
    out: IO[str],
    report: GateReport,
    *,
    source: str,
    failures: Sequence[str] = (),
    run_report: str | None = None,
) -> None:
    """Write the gate as a pull-request comment.

    Args:
        out: Where to write.
        report: This run against its baseline.
        source: What the baseline is ("baseline.json", "run 3f2a9c1e"), shown escaped.
        failures: Why the command fails (our own sentences, shown as they are); none: it passes.
        run_report: This run's own Markdown report, folded under the comparison.
    """
    c = report.comparison
    base, head = c.base, c.head
    out.write(f"{MARKER}\n")
    out.write(
        f"## {VERDICT_ICON[c.verdict]} {md_text(report.suite, 160)}: **{c.verdict}** "
        "against the baseline\n\n"
    )
    if failures:
        out.write(f"**❌ The gate fails:** {'; '.join(failures)}.\n\n")
    else:
        out.write("**✅ The gate passes.**\n\n")
    out.write(f"| | {BASE_NAME} | {HEAD_NAME} | change |\n|---|---|---|---|\n")
    out.write(
        f"| pass rate | {pct(base.pass_rate)}{_ci(ci_text(base.pass_rate_ci))} | "
        f"{pct(head.pass_rate)}{_ci(ci_text(head.pass_rate_ci))} | "
        f"{_pp(base.pass_rate, head.pass_rate)} |\n"
    )
    out.write(
        f"| passed / cases | {base.passed} / {base.completed} | "
        f"{head.passed} / {head.completed} | |\n"
    )
    cost = report.cost_usd
    out.write(f"| cost | {_money(cost.base)} | {_money(cost.head)} | {_change(cost, _usd)} |\n")
    for label, delta in (("p50", report.latency_p50_ms), ("p95", report.latency_p95_ms)):
        out.write(
            f"| latency {label} | {_ms(delta.base)} | {_ms(delta.head)} | "
            f"{_change(delta, _millis)} |\n"
        )
    out.write(f"\n{BASE_NAME.capitalize()}: {describe_baseline(report, source)}.\n\n")
    write_findings(out, c, sides=(BASE_NAME, HEAD_NAME))
    if c.regressions:
        out.write(f"\n### Regressions ({len(c.regressions)})\n\n")
        write_flips(out, c.regressions, limit=FLIPS_SHOWN, columns=(BASE_NAME, HEAD_NAME))
    if c.improvements:
        out.write(f"\n### Improvements ({len(c.improvements)})\n\n")
        write_flips(out, c.improvements, limit=FLIPS_SHOWN, columns=(BASE_NAME, HEAD_NAME))
    if c.only_in_head:
        out.write(f"\n**New in {HEAD_NAME}** (not compared): {_names(c.only_in_head)}\n")
    if c.only_in_base:
        out.write(f"\n**Only in the {BASE_NAME}** (not compared): {_names(c.only_in_base)}\n")
    if run_report:
        out.write(f"\n<details><summary>{HEAD_NAME.capitalize()}'s report</summary>\n\n")
        out.write(run_report.rstrip("\n"))
        out.write("\n\n</details>\n")
