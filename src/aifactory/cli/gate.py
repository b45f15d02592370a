"""The CI gate on the command line: a run against its baseline, printed, written, and its exit.

``aifactory run SUITE --agent AGENT --baseline BASE [--fail-on-regression] [--markdown FILE]``
runs the suite, then compares it with the baseline (:mod:`aifactory.cli.baseline` finds it) case
by case (:func:`aifactory.domain.gate.gate`). It prints the verdict, McNemar's p, both pass
rates with their intervals, the flipped cases (the first 20, then a count) and the cost and
latency changes, and writes the same as the pull-request comment (:mod:`aifactory.reports.gate`)
with the run's own report folded under it.

Exit codes: 0 the gate passes; 1 the suite fails (every case must pass, or the pass rate must
reach ``--fail-under``) or, with ``--fail-on-regression``, it is significantly worse than the
baseline; 2 bad input, a baseline of another suite among it (the unpaired cases are named).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.baseline import locate
from aifactory.cli.common import EXIT_FAILED, bad_input, console, out
from aifactory.domain.compare import CaseKey, Flip
from aifactory.domain.gate import BASE_NAME, HEAD_NAME, Delta, GateReport, gate
from aifactory.domain.models import Interval
from aifactory.errors import AIFactoryError
from aifactory.reports.comparison import write_comparison_html
from aifactory.reports.gate import FLIPS_SHOWN, write_gate_markdown

STYLES = {"improved": "green", "regressed": "red"}


def gate_failures(report: GateReport, *, fail_on_regression: bool) -> list[str]:
    """Why the comparison fails the gate (empty when it does not)."""
    if fail_on_regression and report.regressed:
        return ["this run is significantly worse than the baseline (--fail-on-regression)"]
    return []


def _rate(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "—"
    ci = f" ({interval.low:.1%} – {interval.high:.1%})" if interval else ""
    return f"{value:.1%}{ci}"


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _millis(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _change(delta: Delta, show: Callable[[float], str]) -> str:
    change = delta.change
    if change is None:
        return ""
    share = "" if delta.relative is None else f" ({delta.relative * 100:+.1f}%)"
    return ("+" if change >= 0 else "-") + show(abs(change)) + share


def _money(value: float | None) -> str:
    return "—" if value is None else _usd(value)


def _ms(value: float | None) -> str:
    return "—" if value is None else _millis(value)


def _flips(title: str, flips: list[Flip]) -> None:
    if not flips:
        return
    table = Table(title=f"{title} ({len(flips)})", header_style="bold")
    table.add_column("case")
    table.add_column("repeat", justify="right")
    table.add_column(BASE_NAME)
    table.add_column(HEAD_NAME)
    table.add_column("score", justify="right")
    for flip in flips[:FLIPS_SHOWN]:
        table.add_row(
            escape(flip.name),
            str(flip.repeat_index),
            escape(flip.base_status),
            escape(flip.head_status),
            f"{flip.base_score:.2f} → {flip.head_score:.2f}",
        )
    out.print(table)
    if len(flips) > FLIPS_SHOWN:
        out.print(f"…and {len(flips) - FLIPS_SHOWN} more; write them with --markdown.")


def _unpaired(what: str, keys: list[CaseKey]) -> None:
    if not keys:
        return
    names = ", ".join(escape(k.name) for k in keys[:FLIPS_SHOWN])
    more = f" and {len(keys) - FLIPS_SHOWN} more" if len(keys) > FLIPS_SHOWN else ""
    out.print(f"{what} (not compared): {names}{more}", highlight=False)


def print_gate(report: GateReport, *, source: str) -> None:
    """The verdict, the tests, both runs' figures and the flipped cases, on stdout."""
    c = report.comparison
    base, head = c.base, c.head
    style = STYLES.get(c.verdict, "white")
    out.print(
        f"[bold]{escape(report.suite)}[/] against the {BASE_NAME} ({escape(source)}): "
        f"[bold {style}]{escape(c.verdict)}[/]",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(header_style="bold")
    table.add_column("")
    table.add_column(BASE_NAME, justify="right")
    table.add_column(HEAD_NAME, justify="right")
    table.add_column("change", justify="right")
    rate_change = (
        f"{(head.pass_rate - base.pass_rate) * 100:+.1f} pp"
        if head.pass_rate is not None and base.pass_rate is not None
        else ""
    )
    table.add_row(
        "pass rate (95% CI)",
        _rate(base.pass_rate, base.pass_rate_ci),
        _rate(head.pass_rate, head.pass_rate_ci),
        rate_change,
    )
    table.add_row(
        "passed / cases", f"{base.passed} / {base.completed}", f"{head.passed} / {head.completed}"
    )
    cost = report.cost_usd
    table.add_row("cost", _money(cost.base), _money(cost.head), _change(cost, _usd))
    for label, delta in (("p50", report.latency_p50_ms), ("p95", report.latency_p95_ms)):
        table.add_row(f"latency {label}", _ms(delta.base), _ms(delta.head), _change(delta, _millis))
    out.print(table)
    diff = c.score_diff
    interval = (
        f" 95% CI [{diff.ci_low:+.3f}, {diff.ci_high:+.3f}]"
        if diff.ci_low is not None and diff.ci_high is not None
        else ""
    )
    mean = "—" if diff.mean is None else f"{diff.mean:+.3f}"
    out.print(
        f"{c.pairs} pairs · {c.mcnemar.b} regressed · {c.mcnemar.c} improved · "
        f"McNemar p = {c.mcnemar.p_value:.4g} · mean score diff {mean}{interval}",
        highlight=False,
    )
    _flips("Regressions (passed → not passed)", c.regressions)
    _flips("Improvements (not passed → passed)", c.improvements)
    _unpaired(f"New in {HEAD_NAME}", c.only_in_head)
    _unpaired(f"Only in the {BASE_NAME}", c.only_in_base)


def print_outcome(failures: Sequence[str]) -> None:
    """The gate's end: what fails it, or that it passes (stderr, like the progress)."""
    if failures:
        console.print(f"[bold red]gate failed:[/] {escape('; '.join(failures))}.", highlight=False)
    else:
        console.print("[bold green]gate passed.[/]", highlight=False)


def write_comment(path: Path, report: GateReport, *, source: str, failures: Sequence[str]) -> None:
    """Write the pull-request comment to ``path``, folding in the run's report already there."""
    try:
        run_report = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        run_report = None
    with path.open("w", encoding="utf-8") as handle:
        write_gate_markdown(handle, report, source=source, failures=failures, run_report=run_report)


def compare_files(
    base: str,
    head: str,
    *,
    server: str,
    api_key: str | None,
    fail_on_regression: bool,
    markdown: Path | None,
    html: Path | None,
    as_json: bool,
) -> None:
    """``aifactory compare`` when either run is a ``--json`` file: the gate of ``head`` against
    ``base`` (a server's run by id for the one that is not a file, ``latest`` for the base).

    Raises:
        typer.Exit: 1 on a regression with ``fail_on_regression``, 2 on bad input.
    """
    try:
        after = locate(head, server=server, api_key=api_key, agent=None, suite="")
        before = locate(
            base,
            server=server,
            api_key=api_key,
            agent=after.figures.agent,
            suite=after.figures.suite or "",
        )
        report = gate(before.figures, after.figures)
    except AIFactoryError as exc:
        raise bad_input(str(exc)) from None
    failures = gate_failures(report, fail_on_regression=fail_on_regression)
    if markdown is not None:
        with markdown.open("w", encoding="utf-8") as handle:
            write_gate_markdown(handle, report, source=before.source, failures=failures)
    if html is not None:
        with html.open("w", encoding="utf-8") as handle:
            write_comparison_html(handle, report.comparison)
    if as_json:
        out.print_json(report.comparison.model_dump_json())
    else:
        print_gate(report, source=before.source)
    if failures:
        print_outcome(failures)
        raise typer.Exit(EXIT_FAILED)
