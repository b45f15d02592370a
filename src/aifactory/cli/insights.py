"""``aifactory report`` and ``aifactory compare``: reports and comparisons from a server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import (
    DEFAULT_BASE_URL,
    EXIT_FAILED,
    KeyOpt,
    ServerOpt,
    console,
    out,
    remote,
    resolve_run_id,
)

if TYPE_CHECKING:
    from aifactory.domain.compare import Comparison

EXIT_REGRESSED = EXIT_FAILED


def report(
    run_id: Annotated[str, typer.Argument(help="The run (its id, or the first 8 characters).")],
    fmt: Annotated[
        Literal["html", "markdown", "json", "junit", "csv"],
        typer.Option("--format", "-f", help="html, markdown, json, junit or csv."),
    ] = "html",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Download a run's report from the server."""
    with remote(server, api_key) as client:
        body = client.get_report(resolve_run_id(client, run_id), fmt)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(body)
    console.print(f"wrote {escape(str(output))} ({len(body):,} bytes)", highlight=False)


def print_comparison(comparison: Comparison) -> None:
    """The comparison's verdict, its statistics and the first flips, as tables."""
    c = comparison
    style = {"improved": "green", "regressed": "red"}.get(c.verdict, "white")
    table = Table(
        title=f"{escape(c.base.run_id)} → {escape(c.head.run_id)}: [{style}]{escape(c.verdict)}[/]",
        header_style="bold",
    )
    table.add_column("")
    table.add_column("base", justify="right")
    table.add_column("head", justify="right")

    def rate(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    table.add_row("pass rate", rate(c.base.pass_rate), rate(c.head.pass_rate))
    table.add_row("cases", str(c.base.completed), str(c.head.completed))
    out.print(table)
    diff = c.score_diff
    interval = (
        f"[{diff.ci_low:+.3f}, {diff.ci_high:+.3f}]"
        if diff.ci_low is not None and diff.ci_high is not None
        else "—"
    )
    mean = "—" if diff.mean is None else f"{diff.mean:+.3f}"
    d = "—" if c.effect_size.cohens_d is None else f"{c.effect_size.cohens_d:+.2f}"
    out.print(
        f"{c.pairs} pairs · {c.mcnemar.b} regressed · {c.mcnemar.c} improved · "
        f"McNemar p = {c.mcnemar.p_value:.4g} · mean score diff {mean} 95% CI {interval} · "
        f"Cohen's d {d}",
        highlight=False,
    )
    if c.regressions:
        flips = Table(title="Regressions (passed → not passed)", header_style="bold")
        flips.add_column("case")
        flips.add_column("repeat", justify="right")
        flips.add_column("head", justify="left")
        flips.add_column("score", justify="right")
        for flip in c.regressions[:20]:
            flips.add_row(
                escape(flip.name),
                str(flip.repeat_index),
                escape(flip.head_status),
                f"{flip.base_score:.2f} → {flip.head_score:.2f}",
            )
        out.print(flips)
        if len(c.regressions) > 20:
            out.print(f"…and {len(c.regressions) - 20} more; write --markdown or --html.")


def compare(
    base: Annotated[
        str, typer.Argument(help="The base run (before): its id, or the first 8 characters.")
    ],
    head: Annotated[
        str, typer.Argument(help="The head run (after): its id, or the first 8 characters.")
    ],
    fail_on_regression: Annotated[
        bool,
        typer.Option("--fail-on-regression", help="Exit 1 when head is significantly worse."),
    ] = False,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the comparison as Markdown.")
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write it as an HTML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Compare two runs: flips, McNemar's exact test, score interval, verdict.

    Either run may be a run's --json file (aifactory run --json, pytest --aifactory-json).
    """
    from aifactory.cli.baseline import is_file_reference

    if is_file_reference(base) or is_file_reference(head):
        from aifactory.cli.gate import compare_files

        compare_files(
            base,
            head,
            server=server,
            api_key=api_key,
            fail_on_regression=fail_on_regression,
            markdown=markdown,
            html=html,
            as_json=as_json,
        )
        return
    from aifactory.reports.comparison import write_comparison_html, write_comparison_markdown

    with remote(server, api_key) as client:
        comparison = client.compare_runs(resolve_run_id(client, base), resolve_run_id(client, head))
    if markdown is not None:
        with markdown.open("w", encoding="utf-8") as handle:
            write_comparison_markdown(handle, comparison)
    if html is not None:
        with html.open("w", encoding="utf-8") as handle:
            write_comparison_html(handle, comparison)
    if as_json:
        out.print_json(comparison.model_dump_json())
    else:
        print_comparison(comparison)
    if fail_on_regression and comparison.verdict == "regressed":
        console.print("[bold red]regressed:[/] the head run is significantly worse than the base.")
        raise typer.Exit(EXIT_REGRESSED)
