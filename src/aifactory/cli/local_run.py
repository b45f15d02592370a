"""A local run (``aifactory run``): load a suite and an agent, run with progress, write reports.

A run of the whole process: the report writers, the response cache, the budget's price check
and the progress bar are imported only when the run asks for them.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError
from rich.markup import escape

from aifactory.bootstrap import runner_factory
from aifactory.cli.common import collect_from_here, console
from aifactory.cli.failures import ConversationCounter, Failure, failure_of
from aifactory.domain.models import AgentSpec, RunSummary, TestCase, TestResult
from aifactory.domain.suites import iter_cases, load_suite
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.runner import RunOptions, run_cases
from aifactory.engine.runner_factory import rate_limiter
from aifactory.errors import ConfigError, SuiteError
from aifactory.reports.spool import SpoolSink
from aifactory.settings import Settings, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from aifactory.domain.compare import CaseOutcome
    from aifactory.engine.summary import SummaryBuilder

STREAMED_FORMATS = (".jsonl", ".csv")
FAILURES_SHOWN = 20


@dataclass(slots=True)
class RunOutcome:
    """What the command prints after the run."""

    summary: RunSummary
    suite_name: str
    failures: list[Failure]
    """The first few failed or errored cases: name, status, reason and, for a conversation, the
    failing turn."""
    agent_name: str = "agent"
    outcomes: list[CaseOutcome] = field(default_factory=list)
    """Every case's outcome, when the request asked to keep them (for a baseline comparison)."""


@dataclass(slots=True)
class RunRequest:
    """What ``aifactory run`` was asked to do."""

    suite: Path
    agent: Path
    concurrency: int | None = None
    repeat: int = 1
    budget_usd: float | None = None
    cache: bool = False
    timeout: float = 60.0
    json_path: Path | None = None
    junit: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    quiet: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    """Written into the ``--json`` report (``branch``, ``commit``, …)."""
    keep_outcomes: bool = False
    on_loaded: Callable[[str, AgentSpec], None] | None = None
    """Called with the suite's name and the agent once both are read, before anything runs."""
    on_finished: Callable[[Iterable[TestResult], RunSummary], None] | None = None
    """Called with every result and the summary once the run is over and its reports written."""


def local_settings(settings: Settings) -> Settings:
    """The settings of a local run: without ``AIFACTORY_AGENT_ENV``, configs read any variable.

    The agent file and the environment are the operator's own here, so ``${env:NAME}`` may read
    every variable of this process, except aifactory's and the providers' own settings, which no
    config ever reads. A set ``AIFACTORY_AGENT_ENV`` applies as it does on the server.
    """
    if settings.agent_env is None:
        return settings.model_copy(update={"agent_env": "*"})
    return settings


def load_agent_file(path: Path) -> AgentSpec:
    """Read an agent spec from a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the agent file {path}: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The agent file {path} is not UTF-8 text.") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The agent file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(f"The agent file {path} is not valid YAML: {problem}{where}.") from exc
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"The agent file {path} is not valid YAML or JSON: {exc}") from exc
    if isinstance(data, dict) and "agent" in data and "kind" not in data:
        data = data["agent"]
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"The agent file {path}: {where}: {first['msg']}.") from exc


def progress_bar(total: int) -> Progress:
    """The run's progress bar: done/total, pass rate so far, conversations done, ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]running"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pass {task.fields[rate]}"),
        TextColumn("{task.fields[conversations]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


async def execute(request: RunRequest) -> RunOutcome:
    """Run the suite and write the asked-for reports; returns the summary."""
    settings = local_settings(load_settings())
    spec = load_agent_file(request.agent)
    cases: Iterable[TestCase]
    suite_name = request.suite.stem
    if request.suite.suffix.lower() in STREAMED_FORMATS:
        # Validate the whole file first (bad input must exit 2 before anything runs),
        # then stream it again for the run so memory stays flat.
        total_cases = conversation_cases = 0
        for case in iter_cases(request.suite):
            total_cases += 1
            conversation_cases += case.is_conversation
        if total_cases == 0:
            raise SuiteError("The suite has no test cases.", file=str(request.suite))
        cases = iter_cases(request.suite)
    else:
        suite = load_suite(request.suite)
        for warning in suite.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        suite_name = suite.name or suite_name
        total_cases = len(suite.test_cases)
        conversation_cases = sum(case.is_conversation for case in suite.test_cases)
        cases = suite.test_cases
    if request.budget_usd is not None:
        from aifactory.engine.budget import require_run_prices

        # Before anything runs: a budget that a model without a price could overspend unseen.
        streamed = request.suite.suffix.lower() in STREAMED_FORMATS
        loaded = cases
        require_run_prices(
            settings,
            spec,
            (lambda: iter_cases(request.suite)) if streamed else (lambda: loaded),
            budget="--budget-usd",
        )
    if request.on_loaded is not None:
        request.on_loaded(suite_name, spec)
    total = total_cases * request.repeat
    sink = SpoolSink()
    disk_cache = None
    if request.cache:
        from aifactory.engine.cache import DiskCache

        disk_cache = DiskCache(settings.cache_dir)
    try:
        async with runner_factory(settings) as parts:
            agent = parts.agent(spec)
            try:
                runner = parts.case_runner(
                    spec,
                    agent,
                    options=CaseRunnerOptions(timeout_s=request.timeout),
                    cache=disk_cache,
                )
                options = RunOptions(
                    concurrency=request.concurrency or spec.max_concurrency,
                    repeat=request.repeat,
                    budget_usd=request.budget_usd,
                )
                collect_from_here()  # set up: the cases' garbage is collected as it comes
                summary = await _run_with_progress(
                    cases,
                    runner,
                    sink,
                    options,
                    spec,
                    (total, conversation_cases * request.repeat),
                    request.quiet,
                )
            finally:
                await agent.aclose()
        agent_name = spec.id or spec.name or "agent"
        _write_reports(request, sink, summary, suite_name, agent_name)
        if request.on_finished is not None:
            request.on_finished(sink.results(), summary)
        outcomes: list[CaseOutcome] = []
        if request.keep_outcomes:
            from aifactory.domain.baseline import outcome_of

            outcomes = [outcome_of(r) for r in sink.results()]
        failures: list[Failure] = []
        if summary.failed or summary.errored:
            for result in sink.results():
                if result.status != "passed":
                    failures.append(failure_of(result))
                    if len(failures) >= FAILURES_SHOWN:
                        break
    finally:
        sink.close()
        if disk_cache is not None:
            disk_cache.close()
    return RunOutcome(
        summary=summary,
        suite_name=suite_name,
        failures=failures,
        agent_name=agent_name,
        outcomes=outcomes,
    )


async def _run_with_progress(
    cases: Iterable[TestCase],
    runner: CaseRunner,
    sink: SpoolSink,
    options: RunOptions,
    spec: AgentSpec,
    totals: tuple[int, int],
    quiet: bool,
) -> RunSummary:
    """Run with a progress bar; ``totals`` are the results and the conversations to come."""
    total, conversations = totals
    if quiet:
        return await run_cases(
            cases, runner, sink, options=options, limiter=rate_limiter(spec), total=total
        )
    counter = ConversationCounter(sink)

    def talked() -> str:
        return f"conversations {counter.done}/{conversations}" if conversations else ""

    progress = progress_bar(total)
    task = progress.add_task("run", total=total or None, rate="—", conversations=talked())
    last = 0.0

    def on_progress(summary: SummaryBuilder) -> None:
        nonlocal last
        now = time.monotonic()
        done = summary.completed
        if now - last < 0.1 and done != total:
            return
        last = now
        rate = f"{summary.passed / done:.1%}" if done else "—"
        progress.update(task, completed=done, rate=rate, conversations=talked())

    with progress:
        result = await run_cases(
            cases,
            runner,
            counter,
            options=options,
            limiter=rate_limiter(spec),
            total=total,
            on_progress=on_progress,
        )
        rate = f"{result.pass_rate:.1%}" if result.pass_rate is not None else "—"
        progress.update(task, completed=result.completed, rate=rate, conversations=talked())
    return result


def _write_reports(
    request: RunRequest, sink: SpoolSink, summary: RunSummary, suite_name: str, agent_name: str
) -> None:
    if request.json_path is not None:
        from aifactory.reports.json_report import write_json

        with request.json_path.open("w", encoding="utf-8") as out:
            write_json(
                out,
                sink.json_lines(),
                summary,
                meta={"suite": suite_name, "agent": agent_name},
                head={"suite": suite_name, "agent": agent_name, "metadata": request.metadata},
            )
    if request.junit is not None:
        from aifactory.reports.junit import write_junit

        with request.junit.open("w", encoding="utf-8") as out:
            write_junit(out, sink.results(), summary, suite_name=suite_name)
    if request.markdown is not None:
        from aifactory.reports.markdown import write_markdown

        with request.markdown.open("w", encoding="utf-8") as out:
            write_markdown(out, sink.results(), summary, title=suite_name)
    if request.html is not None:
        from aifactory.reports.html import score_histogram, write_html

        histogram = score_histogram(r.score for r in sink.results())
        # Every case, the ones that did not pass first.
        ordered = itertools.chain(
            (r for r in sink.results() if r.status != "passed"),
            (r for r in sink.results() if r.status == "passed"),
        )
        with request.html.open("w", encoding="utf-8") as out:
            write_html(
                out,
                ordered,
                summary,
                title=suite_name,
                meta=[("agent", agent_name), ("suite", suite_name)],
                histogram=histogram,
            )
