"""Insights: compare two runs, a run's report in any format, an agent's trend.

Included before the runs router, so ``/api/v1/runs/compare`` is not read as a run id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from aifactory.api.deps import ReadKey, ServicesDep
from aifactory.api.schemas_insights import Comparison, Trend
from aifactory.reports.html import REPORT_CSP
from aifactory.service.insights import ReportFormat, report_filename

router = APIRouter(tags=["insights"])


@router.get("/api/v1/runs/compare", response_model=Comparison, operation_id="compareRuns")
async def compare_runs(
    services: ServicesDep,
    _: ReadKey,
    base: Annotated[str, Query(min_length=1, max_length=64, description="The base run's id.")],
    head: Annotated[str, Query(min_length=1, max_length=64, description="The head run's id.")],
) -> Comparison:
    """Pair the runs' cases by name and repeat index; flips, McNemar, score interval, verdict."""
    return await services.insights.compare(base, head)


@router.get(
    "/api/v1/runs/{run_id}/report",
    operation_id="getRunReport",
    response_class=Response,
    responses={
        200: {
            "description": "The report file.",
            "content": {
                "text/html": {},
                "text/markdown": {},
                "application/json": {},
                "application/xml": {},
                "text/csv": {},
            },
        }
    },
)
async def run_report(
    run_id: str,
    services: ServicesDep,
    _: ReadKey,
    format: Annotated[ReportFormat, Query(description="The report's format.")] = "html",
) -> Response:
    """The run's report: self-contained HTML, Markdown, JSON, JUnit XML or CSV."""
    body, media_type = await services.insights.report(run_id, format)
    disposition = "inline" if format == "html" else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{report_filename(run_id, format)}"',
        "X-Content-Type-Options": "nosniff",
    }
    if format == "html":
        headers["Content-Security-Policy"] = REPORT_CSP
    return Response(content=body, media_type=media_type, headers=headers)


@router.get("/api/v1/agents/{agent_id}/trend", response_model=Trend, operation_id="getAgentTrend")
async def agent_trend(
    agent_id: str,
    services: ServicesDep,
    _: ReadKey,
    runs: Annotated[int, Query(ge=1, le=200, description="How many recent runs.")] = 20,
) -> Trend:
    """Pass rate with its interval per run (newest last) and per version, and flaky cases."""
    return await services.insights.trend(agent_id, runs=runs)
