"""``aifactory review``: how far each judge agrees with people, and their verdicts as a suite."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import DEFAULT_BASE_URL, KeyOpt, ServerOpt, console, out, remote

if TYPE_CHECKING:
    from aifactory.domain.models import Interval
    from aifactory.domain.review import AgreementReport

review_app = typer.Typer(
    help="Human review: judges' agreement with people, the golden set.", no_args_is_help=True
)
CRITERION_CHARS = 60


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _interval(ci: Interval | None, *, percent: bool) -> str:
    if ci is None:
        return "—"
    if percent:
        return f"{ci.low:.0%}–{ci.high:.0%}"
    return f"{ci.low:.2f}–{ci.high:.2f}"


def _criterion(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CRITERION_CHARS else text[: CRITERION_CHARS - 1] + "…"


def print_agreement(report: AgreementReport, title: str) -> None:
    """One row per judge criterion: agreement and kappa with their intervals, the confusion."""
    if not report.items:
        out.print(
            f"{escape(title)}: no labeled result counts for a judge check yet. Label results "
            "with the dashboard's review page or POST /api/v1/results/{id}/labels.",
            highlight=False,
        )
        return
    table = Table(title=escape(title), header_style="bold")
    for name in ("check", "criterion", "labeled", "agreement", "95% CI", "kappa", "95% CI"):
        table.add_column(name, justify="left" if name in ("check", "criterion") else "right")
    for name in ("tp", "fp", "fn", "tn", "judge pass", "human pass", "alpha"):
        table.add_column(name, justify="right")
    for a in report.items:
        c = a.confusion
        table.add_row(
            escape(a.check_type),
            escape(_criterion(a.criterion)),
            str(a.labeled),
            _share(a.agreement),
            _interval(a.agreement_ci, percent=True),
            "—" if a.kappa is None else f"{a.kappa:.2f}",
            _interval(a.kappa_ci, percent=False),
            str(c.tp),
            str(c.fp),
            str(c.fn),
            str(c.tn),
            _share(a.judge_pass_rate),
            _share(a.human_pass_rate),
            "—" if a.reviewer_alpha is None else f"{a.reviewer_alpha:.2f}",
        )
    out.print(table)
    out.print(
        "fp: the judge passed what people failed; fn: the judge failed what people passed. "
        "kappa: agreement beyond chance (1 perfect, 0 chance); alpha: reviewers among themselves.",
        highlight=False,
    )


@review_app.command("agreement")
def agreement(
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="The agent whose judges to measure.")
    ] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Only runs of this suite.")] = None,
    check_type: Annotated[
        str | None, typer.Option("--check-type", help="Only this check type (e.g. llm_rubric).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Each judge criterion against people's labels: agreement, kappa, confusion counts."""
    with remote(server, api_key) as client:
        report = client.judge_agreement(agent_id=agent, suite_id=suite, check_type=check_type)
    if as_json:
        out.print_json(report.model_dump_json())
        return
    scope = [f"agent {agent}" if agent else "", f"suite {suite}" if suite else ""]
    print_agreement(report, "Judge agreement: " + (", ".join(s for s in scope if s) or "all"))


@review_app.command("export")
def export(
    agent: Annotated[str, typer.Option("--agent", "-a", help="The agent whose labels to export.")],
    fmt: Annotated[
        Literal["yaml", "jsonl"], typer.Option("--format", "-f", help="yaml or jsonl.")
    ] = "yaml",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Write the agent's labeled cases as a suite file (a golden set) to run as regression tests."""
    with remote(server, api_key) as client:
        body = client.export_golden_set(agent, fmt)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(body)
    cases = body.count(b"\n") if fmt == "jsonl" else None
    what = f"{cases} cases, " if cases is not None else ""
    console.print(f"wrote {escape(str(output))} ({what}{len(body):,} bytes)", highlight=False)
