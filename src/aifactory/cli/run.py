"""``aifactory run`` and ``aifactory checks``: a suite against an agent, in this process.

The run itself (loading, running, reports) is :mod:`aifactory.cli.local_run`, imported when the
command starts so that ``aifactory --help`` stays quick; the baseline and the server
(:mod:`aifactory.cli.baseline`, :mod:`aifactory.cli.gate`) only when a run asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import (
    EXIT_FAILED,
    EXIT_PASSED,
    SERVER_ENV,
    KeyOpt,
    bad_input,
    console,
    out,
    parse_metadata,
)
from aifactory.errors import AIFactoryError, CheckSpecError, ConfigError, SuiteError

if TYPE_CHECKING:
    from aifactory.cli.baseline import Baseline
    from aifactory.cli.failures import Failure
    from aifactory.domain.models import AgentSpec, RunSummary, TestResult


def run(
    suite: Annotated[Path, typer.Argument(help="Suite file: YAML, JSON, JSONL, CSV or promptfoo.")],
    agent: Annotated[Path, typer.Option("--agent", "-a", help="Agent file (YAML or JSON).")],
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Cases in flight (default: the agent's).")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=100, help="Run every case this often.")] = 1,
    budget_usd: Annotated[
        float | None, typer.Option(min=0, help="Stop once agent plus judge cost reaches this.")
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Reuse replies of unchanged cases.")
    ] = False,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds per agent reply.")] = 60.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write a JSON report.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown report.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report with charts.")
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Pass when the pass rate reaches this (default: all)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Compare with an earlier run: its --json file, or with --server a run id or "
            "'latest' (the agent's newest completed run of the suite on branch main)."
        ),
    ] = None,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression", help="Exit 1 when significantly worse than the baseline."
        ),
    ] = False,
    metadata: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE written into the --json report (repeatable)."),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            envvar=SERVER_ENV,
            help="The server a --baseline run id or 'latest' is read from, --record writes to.",
        ),
    ] = None,
    api_key: KeyOpt = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Also store the run on --server as a run of the agent (its file's id), with "
            "--metadata; branch=main makes it what --baseline latest finds.",
        ),
    ] = False,
) -> None:
    """Run a suite against an agent; exit 0 when it passes, 1 when it fails, 2 on bad input.

    With --baseline, compare the run with an earlier one case by case and print the verdict;
    --fail-on-regression exits 1 when it is significantly worse.
    """
    import asyncio

    from aifactory.cli.local_run import RunRequest, execute

    try:
        meta = parse_metadata(metadata)
    except AIFactoryError as exc:
        raise bad_input(str(exc)) from None
    if record and server is None:
        raise bad_input("--record stores the run on a server: give --server URL.")
    found: list[Baseline] = []
    loaded: dict[str, str] = {}

    def before_the_run(suite_name: str, spec: AgentSpec) -> None:
        from aifactory.cli import baseline as baselines

        loaded["suite"] = suite_name
        if record and server is not None:
            loaded["agent"] = baselines.check_recordable(server, api_key, spec.id)
        if baseline is not None:
            found.append(
                baselines.locate(
                    baseline, server=server, api_key=api_key, agent=spec.id, suite=suite_name
                )
            )

    def after_the_run(results: Iterable[TestResult], _: RunSummary) -> None:
        from aifactory.cli import baseline as baselines

        if record and server is not None:
            run_id = baselines.record(
                server,
                api_key,
                agent=loaded["agent"],
                suite=loaded["suite"],
                metadata=meta,
                results=results,
            )
            console.print(f"recorded as run {run_id} on {escape(server)}", highlight=False)

    request = RunRequest(
        suite=suite,
        agent=agent,
        concurrency=concurrency,
        repeat=repeat,
        budget_usd=budget_usd,
        cache=cache,
        timeout=timeout,
        json_path=json_path,
        junit=junit,
        markdown=markdown,
        html=html,
        quiet=quiet,
        metadata=meta,
        keep_outcomes=baseline is not None,
        on_loaded=before_the_run if baseline is not None or record else None,
        on_finished=after_the_run if record else None,
    )
    try:
        outcome = asyncio.run(execute(request))
    except (SuiteError, ConfigError, CheckSpecError) as exc:
        raise bad_input(str(exc)) from None
    except AIFactoryError as exc:
        raise bad_input(str(exc)) from None
    print_failures(outcome.failures, more=outcome.summary.failed + outcome.summary.errored)
    print_summary(outcome.summary, title=outcome.suite_name)
    failures = run_failures(outcome.summary, fail_under)
    if found:
        from aifactory.cli import gate
        from aifactory.domain.baseline import RunFigures
        from aifactory.domain.gate import gate as compare_with

        head = RunFigures(
            outcomes=outcome.outcomes,
            suite=outcome.suite_name,
            agent=outcome.agent_name,
            metadata=meta,
            summary=outcome.summary.model_dump(mode="json"),
        )
        try:
            report = compare_with(found[0].figures, head)
        except AIFactoryError as exc:
            raise bad_input(str(exc)) from None
        gate.print_gate(report, source=found[0].source)
        failures += gate.gate_failures(report, fail_on_regression=fail_on_regression)
        if markdown is not None:
            gate.write_comment(markdown, report, source=found[0].source, failures=failures)
        gate.print_outcome(failures)
    raise typer.Exit(EXIT_FAILED if failures else EXIT_PASSED)


def print_failures(failures: Sequence[Failure], *, more: int) -> None:
    """The first failed and errored cases with their reasons; a conversation's with its failing
    turn."""
    if not failures:
        return
    turns = any(f.turn for f in failures)
    table = Table(title="Cases that did not pass", show_header=True, header_style="bold")
    table.add_column("case")
    table.add_column("status")
    if turns:
        table.add_column("turn")
    table.add_column("reason", overflow="fold")
    for failure in failures:
        style = "red" if failure.status == "failed" else "magenta"
        cells = [escape(failure.name), f"[{style}]{escape(failure.status)}[/]"]
        if turns:
            cells.append(escape(failure.turn))
        table.add_row(*cells, escape(failure.reason[:300]))
    out.print(table)
    if more > len(failures):
        out.print(f"…and {more - len(failures)} more; write a report with --markdown or --json.")


def run_failures(summary: RunSummary, fail_under: float | None) -> list[str]:
    """Why a finished run fails (empty when it passes): every case must pass, or the pass rate
    must reach ``fail_under``; a run that stopped early or finished no case fails."""
    if summary.completed == 0:
        return ["no case finished"] if summary.total else []
    if summary.stopped_reason is not None:
        return [f"the run stopped early ({summary.stopped_reason})"]
    if fail_under is None:
        missed = summary.failed + summary.errored
        return [f"{missed} of {summary.completed} cases did not pass"] if missed else []
    rate = summary.pass_rate or 0.0
    if rate < fail_under:
        return [f"the pass rate {rate:.1%} is under --fail-under {fail_under:.1%}"]
    return []


def print_summary(summary: RunSummary, *, title: str) -> None:
    """The summary table with its intervals."""
    table = Table(title=f"aifactory run: {escape(title)}", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    rate_ci = summary.pass_rate_ci
    table.add_row(
        "pass rate",
        "—" if summary.pass_rate is None else f"{summary.pass_rate:.1%}",
        f"{rate_ci.low:.1%} – {rate_ci.high:.1%}" if rate_ci else "",
    )
    table.add_row(
        "passed / failed / errors", f"{summary.passed} / {summary.failed} / {summary.errored}", ""
    )
    score_ci = summary.score_ci
    table.add_row(
        "mean score",
        "—" if summary.mean_score is None else f"{summary.mean_score:.3f}",
        f"{score_ci.low:.3f} – {score_ci.high:.3f}" if score_ci else "",
    )
    if summary.latency_ms:
        lat = summary.latency_ms
        table.add_row(
            "latency p50 / p95 / p99",
            f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} ms",
            "",
        )
    if summary.usage.input_tokens or summary.usage.output_tokens:
        table.add_row(
            "agent tokens in / out",
            f"{summary.usage.input_tokens} / {summary.usage.output_tokens}",
            "",
        )
    if summary.judge_usage.input_tokens:
        table.add_row(
            "judge tokens in / out",
            f"{summary.judge_usage.input_tokens} / {summary.judge_usage.output_tokens}",
            "",
        )
    if summary.cost_usd is not None and summary.cost_usd > 0:
        table.add_row("cost", f"${summary.cost_usd:.4f}", "")
    for k, value in summary.pass_at_k.items():
        table.add_row(f"pass@{k}", f"{value:.1%}", "")
    if summary.flaky_cases:
        table.add_row("flaky cases", str(len(summary.flaky_cases)), "")
    _conversation_rows(table, summary)
    if summary.stopped_reason:
        table.add_row("stopped early", escape(summary.stopped_reason), "")
    out.print(table)


def _conversation_rows(table: Table, summary: RunSummary) -> None:
    """The conversations' figures: how many passed, their turns, how they ended."""
    talks = summary.conversations
    if talks is None or not talks.total:
        return
    ci = talks.pass_rate_ci
    table.add_row(
        "conversations passed",
        f"{talks.passed} / {talks.total}"
        + ("" if talks.pass_rate is None else f" ({talks.pass_rate:.1%})"),
        f"{ci.low:.1%} – {ci.high:.1%}" if ci else "",
    )
    if talks.mean_turns is not None:
        table.add_row("agent replies per conversation", f"{talks.mean_turns:.1f}", "")
    if talks.stop_reasons:
        ended = ", ".join(f"{reason} {n}" for reason, n in talks.stop_reasons.items())
        table.add_row("conversations ended", escape(ended), "")
    if talks.mean_turns_to_goal is not None:
        goal_ci = talks.turns_to_goal_ci
        table.add_row(
            "turns to goal (simulated users)",
            f"{talks.mean_turns_to_goal:.1f}",
            f"{goal_ci.low:.1f} – {goal_ci.high:.1f}" if goal_ci else "",
        )
    if summary.simulator_usage.input_tokens:
        table.add_row(
            "simulated user tokens in / out",
            f"{summary.simulator_usage.input_tokens} / {summary.simulator_usage.output_tokens}",
            "",
        )


def list_checks(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the check types and their parameters."""
    from aifactory.domain.checks import registry

    known = registry()
    if as_json:
        out.print_json(
            data={
                name: {"description": t.description, "parameters": t.parameters}
                for name, t in known.items()
            }
        )
        return
    table = Table(title="Check types (every check also takes weight and negate; not_X negates X)")
    table.add_column("type", style="bold")
    table.add_column("parameters")
    table.add_column("description")
    for name, check_type in known.items():
        params = ", ".join(f"{p}: {d}" for p, d in check_type.parameters.items())
        table.add_row(escape(name), escape(params), escape(check_type.description))
    out.print(table)
