"""Insights on stored runs: comparisons, an agent's trend, and reports in every format.

Reads stream from the store a chunk at a time. Comparisons and trends read only names, statuses
and scores (``outcomes_repo``); reports spool whole results to a temporary file and render from
it in a worker thread, so memory stays near the size of the report and the event loop stays free
while a 10,000-case report renders.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable
from typing import IO, Any, Literal

from aifactory.domain import stats
from aifactory.domain.compare import CaseOutcome, Comparison, RunBrief, compare_outcomes
from aifactory.domain.models import Interval, RunSummary, TestResult
from aifactory.domain.runs import Run
from aifactory.domain.trend import FlakyFinder, Trend, version_trends
from aifactory.queue.summaries import build_summary
from aifactory.reports.comparison import write_comparison_html, write_comparison_markdown
from aifactory.reports.csv import write_csv
from aifactory.reports.html import score_histogram, write_html
from aifactory.reports.json_report import write_json
from aifactory.reports.junit import write_junit
from aifactory.reports.markdown import MAX_FAILURES_SHOWN, write_markdown
from aifactory.reports.spool import SpoolSink
from aifactory.store import agents_repo, outcomes_repo, results_repo, runs_repo
from aifactory.store.database import Database

ReportFormat = Literal["html", "markdown", "json", "junit", "csv"]
ComparisonFormat = Literal["html", "markdown", "json"]
REPORT_FORMATS: tuple[str, ...] = ("html", "markdown", "json", "junit", "csv")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "json": "application/json",
    "junit": "application/xml",
    "csv": "text/csv; charset=utf-8",
}
EXTENSIONS = {"html": "html", "markdown": "md", "json": "json", "junit": "xml", "csv": "csv"}
PAGE = 500
MAX_TREND_RUNS = 200


def run_brief(record: Run) -> RunBrief:
    """A run as comparisons and trends show it: counters, pass rate with its interval, score."""
    summary = record.summary or {}
    score_ci = summary.get("score_ci")
    return RunBrief(
        run_id=record.id,
        agent_id=record.agent_id,
        agent_version=record.agent_version,
        name=record.name,
        status=record.status,
        created_at=record.created_at,
        total=record.total,
        completed=record.completed,
        passed=record.passed,
        failed=record.failed,
        errored=record.errored,
        pass_rate=record.passed / record.completed if record.completed else None,
        pass_rate_ci=stats.wilson_interval(record.passed, record.completed),
        mean_score=summary.get("mean_score"),
        score_ci=Interval.model_validate(score_ci) if score_ci else None,
    )


def report_filename(run_id: str, fmt: str) -> str:
    """The file name a report is offered under."""
    return f"aifactory-run-{run_id}.{EXTENSIONS[fmt]}"


def _render(write: Callable[[IO[str]], None]) -> bytes:
    buffer = io.StringIO()
    write(buffer)
    return buffer.getvalue().encode("utf-8")


class InsightService:
    """Compares runs, follows an agent's trend, and renders run reports."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- comparison -----------------------------------------------------------------------------

    async def _outcomes(self, run_id: str) -> list[CaseOutcome]:
        outcomes: list[CaseOutcome] = []
        async with self.db.session() as session:
            async for chunk in outcomes_repo.iter_run_outcomes(session, run_id):
                outcomes.extend(chunk)
        return outcomes

    async def compare(self, base_run_id: str, head_run_id: str) -> Comparison:
        """Pair the two runs' cases by name and repeat index, and test the difference.

        Raises:
            NotFound: either run does not exist.
        """
        async with self.db.session() as session:
            base = await runs_repo.get_run(session, base_run_id)
            head = await runs_repo.get_run(session, head_run_id)
        base_outcomes = await self._outcomes(base_run_id)
        head_outcomes = await self._outcomes(head_run_id)
        paired = compare_outcomes(base_outcomes, head_outcomes)
        return Comparison(base=run_brief(base), head=run_brief(head), **dict(paired))

    async def comparison_report(
        self, base_run_id: str, head_run_id: str, fmt: str
    ) -> tuple[bytes, str]:
        """The comparison rendered as ``markdown``, ``html`` or ``json``: (body, media type)."""
        if fmt not in ("html", "markdown", "json"):
            raise ValueError(f"A comparison renders as html, markdown or json, not {fmt!r}.")
        comparison = await self.compare(base_run_id, head_run_id)
        if fmt == "json":
            return comparison.model_dump_json().encode(), MEDIA_TYPES["json"]
        writer = write_comparison_html if fmt == "html" else write_comparison_markdown
        body = await asyncio.to_thread(_render, lambda out: writer(out, comparison))
        return body, MEDIA_TYPES[fmt]

    # -- trend ----------------------------------------------------------------------------------

    async def trend(self, agent_id: str, *, runs: int = 20) -> Trend:
        """The agent's last ``runs`` runs (newest last), its versions, and its flaky cases.

        Raises:
            NotFound: no such agent.
        """
        runs = max(1, min(runs, MAX_TREND_RUNS))
        async with self.db.session() as session:
            await agents_repo.get_agent(session, agent_id)
            page = await runs_repo.list_runs(session, agent_id=agent_id, limit=runs)
            records = list(reversed(page.items))
            finder = FlakyFinder()
            for record in records:
                run_outcomes: list[CaseOutcome] = []
                async for chunk in outcomes_repo.iter_run_outcomes(session, record.id):
                    run_outcomes.extend(chunk)
                finder.add_run(run_outcomes)
        briefs = [run_brief(r) for r in records]
        return Trend(
            agent_id=agent_id,
            runs=briefs,
            versions=version_trends(briefs),
            flaky_cases=finder.flaky(),
        )

    # -- reports --------------------------------------------------------------------------------

    async def _summary(self, record: Run) -> RunSummary:
        if record.summary is not None and record.finished:
            return RunSummary.model_validate(record.summary)
        return await build_summary(self.db, record.id)

    async def _spool_failures(
        self,
        run_id: str,
        sink: SpoolSink,
        *,
        limit: int | None,
        statuses: tuple[str, ...] = ("error", "failed"),
    ) -> int:
        """Errors first, then failures (then ``statuses``' others), each in case order.

        Returns how many were spooled.
        """
        count = 0
        async with self.db.session() as session:
            for status in statuses:
                offset = 0
                while limit is None or count < limit:
                    size = PAGE if limit is None else min(PAGE, limit - count)
                    page = await results_repo.list_run_results(
                        session, run_id, status=status, limit=size, offset=offset
                    )
                    for result in page.items:
                        await sink.write(result)
                    count += len(page.items)
                    offset += len(page.items)
                    if len(page.items) < size:
                        break
        return count

    async def _spool_all(self, run_id: str, sink: SpoolSink) -> None:
        async with self.db.session() as session:
            async for chunk in results_repo.iter_run_results(session, run_id):
                for result in chunk:
                    await sink.write(result)

    async def _histogram(self, run_id: str) -> list[int]:
        counts: list[int] = []
        async with self.db.session() as session:
            async for chunk in outcomes_repo.iter_run_outcomes(session, run_id):
                part = score_histogram(o.score for o in chunk)
                counts = part if not counts else [a + b for a, b in zip(counts, part, strict=True)]
        return counts or score_histogram(())

    async def report(self, run_id: str, fmt: str) -> tuple[bytes, str]:
        """The run's report in ``fmt`` (html, markdown, json, junit or csv): (body, media type).

        Raises:
            NotFound: no such run.
            ValueError: an unknown format (the route refuses it first, with a 422).
        """
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"Report format must be one of {', '.join(REPORT_FORMATS)}.")
        async with self.db.session() as session:
            record = await runs_repo.get_run(session, run_id)
        if fmt == "csv":
            return await self._csv(run_id), MEDIA_TYPES[fmt]
        summary = await self._summary(record)
        title = record.name or record.suite_id or f"{record.agent_id} v{record.agent_version}"
        sink = SpoolSink()
        try:
            if fmt == "html":
                histogram = await self._histogram(run_id)
                # Every case: the report lists the passed ones too, after the others.
                await self._spool_failures(
                    run_id, sink, limit=None, statuses=("error", "failed", "passed")
                )
                meta = _meta(record)
                body = await asyncio.to_thread(
                    _render,
                    lambda out: write_html(
                        out, sink.results(), summary, title=title, meta=meta, histogram=histogram
                    ),
                )
            elif fmt == "markdown":
                shown = await self._spool_failures(run_id, sink, limit=MAX_FAILURES_SHOWN)
                more = summary.failed + summary.errored - shown
                body = await asyncio.to_thread(
                    _render,
                    lambda out: write_markdown(
                        out, sink.results(), summary, title=title, more=max(0, more)
                    ),
                )
            else:
                await self._spool_all(run_id, sink)
                body = await asyncio.to_thread(
                    _render, _full_writer(fmt, sink.results, summary, title, record)
                )
        finally:
            sink.close()
        return body, MEDIA_TYPES[fmt]

    async def _csv(self, run_id: str) -> bytes:
        buffer = io.StringIO()
        first = True
        async with self.db.session() as session:
            async for chunk in results_repo.iter_run_results(session, run_id):
                write_csv(buffer, chunk, header=first)
                first = False
        if first:
            write_csv(buffer, ())
        return buffer.getvalue().encode("utf-8")


def _meta(record: Run) -> list[tuple[str, Any]]:
    return [
        ("agent", f"{record.agent_id} v{record.agent_version}"),
        ("run", record.id),
        ("suite", record.suite_id),
        ("status", record.status),
        ("created", record.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        (
            "finished",
            record.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC") if record.finished_at else None,
        ),
    ]


def _full_writer(
    fmt: str,
    results: Callable[[], Iterable[TestResult]],
    summary: RunSummary,
    title: str,
    record: Run,
) -> Callable[[IO[str]], None]:
    if fmt == "junit":
        return lambda out: write_junit(out, results(), summary, suite_name=title)
    meta = {
        "run_id": record.id,
        "agent_id": record.agent_id,
        "agent_version": record.agent_version,
        "suite_id": record.suite_id,
        "name": record.name,
        "status": record.status,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }
    return lambda out: write_json(out, results(), summary, meta=meta)
