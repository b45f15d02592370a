"""What the pages show, shaped from what the services answer.

Plain functions from service results to small view records; the templates only lay them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from aifactory.domain import stats
from aifactory.domain.compare import Comparison, RunBrief
from aifactory.domain.models import Interval
from aifactory.domain.runs import Run
from aifactory.errors import NotFound
from aifactory.service.container import Services
from aifactory.web.charts import IntervalBar, Point, interval_bar, trend_chart
from aifactory.web.conversations import ConversationView, conversation_view
from aifactory.web.formatting import interval, num, pct, short_id, when

CSRF_MESSAGE = (
    "This form was sent without a valid security token. Reload the page and send it again."
)
REPORT_FORMATS = (
    ("html", "HTML"),
    ("markdown", "Markdown"),
    ("json", "JSON"),
    ("junit", "JUnit XML"),
    ("csv", "CSV"),
)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The API's error shape, for the dashboard's JSON endpoint."""
    return {"error": {"code": code, "message": message, "details": None}}


def progress_body(run: Run) -> dict[str, Any]:
    """What the live progress script reads."""
    return {
        "run_id": run.run_id,
        "status": run.status,
        "total": run.total,
        "completed": run.completed,
        "passed": run.passed,
        "failed": run.failed,
        "errored": run.errored,
        "progress": run.progress,
        "finished": run.finished,
    }


def latest_runs(runs: Iterable[Run]) -> dict[str, Run]:
    """The newest run of each agent among ``runs`` (given newest first)."""
    latest: dict[str, Run] = {}
    for run in runs:
        latest.setdefault(run.agent_id, run)
    return latest


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a page of a list starts and ends, and links to its neighbours."""

    total: int
    first: int
    last: int
    page: int
    pages: int
    prev_url: str | None
    next_url: str | None


def pager(total: int, page: int, size: int, request: Request) -> Pager:
    """The pager of a list of ``total`` items shown ``size`` at a time."""
    pages = max(1, -(-total // size))
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}

    def url(n: int) -> str:
        query = urlencode({**params, "page": n} if n > 1 else params)
        return f"{request.url.path}?{query}" if query else request.url.path

    first = min(total, (page - 1) * size + 1)
    return Pager(
        total=total,
        first=first,
        last=min(total, page * size),
        page=page,
        pages=pages,
        prev_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
    )


@dataclass(frozen=True, slots=True)
class TagRow:
    """One tag's pass rate with its interval."""

    tag: str
    passed: int
    total: int
    pass_rate: float | None
    ci: Mapping[str, Any] | None
    bar: IntervalBar | None


@dataclass(frozen=True, slots=True)
class SummaryView:
    """A run's aggregates as the run page shows them."""

    pass_rate: float | None
    pass_rate_ci: Mapping[str, Any] | None
    mean_score: float | None = None
    score_ci: Mapping[str, Any] | None = None
    latency: Mapping[str, float] = field(default_factory=dict)
    usage: Mapping[str, Any] = field(default_factory=dict)
    judge_usage: Mapping[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    tags: list[TagRow] = field(default_factory=list)
    flaky_cases: list[str] = field(default_factory=list)
    pass_at_k: Mapping[str, float] = field(default_factory=dict)
    stopped_reason: str | None = None
    conversations: ConversationView | None = None
    final: bool = False
    """False while the run goes on: the figures are from the counters so far."""


def summary_view(run: Run) -> SummaryView:
    """The run's stored summary, or, before it has one, what its counters already say."""
    summary = run.summary
    if not summary:
        so_far = stats.wilson_interval(run.passed, run.completed)
        return SummaryView(
            pass_rate=run.passed / run.completed if run.completed else None,
            pass_rate_ci=so_far.model_dump() if so_far else None,
        )
    tags = []
    for tag, row in sorted((summary.get("by_tag") or {}).items()):
        ci = row.get("pass_rate_ci") or {}
        rate = row.get("pass_rate")
        tags.append(
            TagRow(
                tag=tag,
                passed=int(row.get("passed", 0)),
                total=int(row.get("total", 0)),
                pass_rate=rate,
                ci=ci or None,
                bar=interval_bar(
                    rate,
                    ci.get("low"),
                    ci.get("high"),
                    title=f"{tag}: {row.get('passed', 0)} of {row.get('total', 0)} passed",
                ),
            )
        )
    return SummaryView(
        pass_rate=summary.get("pass_rate"),
        pass_rate_ci=summary.get("pass_rate_ci"),
        mean_score=summary.get("mean_score"),
        score_ci=summary.get("score_ci"),
        latency=summary.get("latency_ms") or {},
        usage=summary.get("usage") or {},
        judge_usage=summary.get("judge_usage") or {},
        cost_usd=summary.get("cost_usd"),
        tags=tags,
        flaky_cases=list(summary.get("flaky_cases") or []),
        pass_at_k=summary.get("pass_at_k") or {},
        stopped_reason=summary.get("stopped_reason"),
        conversations=conversation_view(summary),
        final=True,
    )


def run_tags(run: Run, current: str | None) -> list[str]:
    """The tags to offer in the run page's filter (those of its summary, and the one in use)."""
    tags = sorted((run.summary or {}).get("by_tag") or {})
    if current and current not in tags:
        tags.append(current)
    return tags


async def agent_trend(services: Services, agent_id: str, *, runs: int = 30) -> dict[str, Any]:
    """The agent page's trend chart, per-version rates and flaky cases."""
    trend = await services.insights.trend(agent_id, runs=runs)
    points = [
        Point(
            label=run.name or short_id(run.run_id),
            value=run.pass_rate,
            low=run.pass_rate_ci.low if run.pass_rate_ci else None,
            high=run.pass_rate_ci.high if run.pass_rate_ci else None,
            title=(
                f"{run.name or run.run_id} · v{run.agent_version} · {run.passed} of"
                f" {run.completed} passed ({pct(run.pass_rate)}) {interval(run.pass_rate_ci)}"
            ),
            href=f"/runs/{run.run_id}",
            group=f"v{run.agent_version}",
        )
        for run in trend.runs
    ]
    versions = [
        VersionRow(
            version=v.agent_version,
            runs=v.runs,
            total=v.completed,
            pass_rate=v.pass_rate,
            ci=v.pass_rate_ci,
            bar=interval_bar(
                v.pass_rate,
                v.pass_rate_ci.low if v.pass_rate_ci else None,
                v.pass_rate_ci.high if v.pass_rate_ci else None,
                title=f"v{v.agent_version}: {v.passed} of {v.completed} passed",
            ),
        )
        for v in trend.versions
    ]
    chart = trend_chart(points) if any(p.value is not None for p in points) else None
    return {"chart": chart, "version_rates": versions, "flaky": trend.flaky_cases}


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One agent version's pooled pass rate."""

    version: int
    runs: int
    total: int
    pass_rate: float | None
    ci: Interval | None
    bar: IntervalBar | None


async def run_choices(services: Services, *chosen: str | None) -> list[Run]:
    """Recent runs to pick from on the compare page (the chosen ones first when older)."""
    recent = (await services.runs.list(agent_id=None, status=None, limit=200, offset=0)).items
    known = {r.run_id for r in recent}
    extra = []
    for run_id in chosen:
        if run_id and run_id not in known:
            try:
                extra.append(await services.runs.get(run_id))
            except NotFound:
                continue
    return extra + recent


def default_base(runs: list[Run], head: str | None) -> str | None:
    """The run before ``head`` of the same agent: what a comparison usually wants."""
    if head is None:
        return None
    agent = next((r.agent_id for r in runs if r.run_id == head), None)
    seen = False
    for run in runs:
        if run.run_id == head:
            seen = True
        elif seen and run.agent_id == agent:
            return run.run_id
    return None


def side_rows(comparison: Comparison) -> list[tuple[str, str, str]]:
    """Base and head side by side: (what, base, head)."""
    base, head = comparison.base, comparison.head

    def agent(b: RunBrief) -> str:
        return f"{b.agent_id} v{b.agent_version}"

    def rate(b: RunBrief) -> str:
        return f"{pct(b.pass_rate)} {interval(b.pass_rate_ci)}".strip()

    def score(b: RunBrief) -> str:
        return f"{num(b.mean_score)} {interval(b.score_ci, False)}".strip()

    return [
        ("agent", agent(base), agent(head)),
        ("status", base.status, head.status),
        ("created", when(base.created_at), when(head.created_at)),
        ("cases", f"{base.completed} / {base.total}", f"{head.completed} / {head.total}"),
        (
            "passed / failed / errors",
            f"{base.passed} / {base.failed} / {base.errored}",
            f"{head.passed} / {head.failed} / {head.errored}",
        ),
        ("pass rate (95% interval)", rate(base), rate(head)),
        ("mean score (95% interval)", score(base), score(head)),
    ]
