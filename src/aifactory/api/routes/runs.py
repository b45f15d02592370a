"""Runs: list, results with filters, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from aifactory.api.deps import ReadKey, ServicesDep, WriteKey
from aifactory.api.schemas import RunImportRequest, RunPublic, RunStatusName
from aifactory.domain.models import TestResult
from aifactory.domain.paging import Page

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


@router.get("", response_model=Page[RunPublic], operation_id="listRuns")
async def list_runs(
    services: ServicesDep,
    _: ReadKey,
    agent_id: str | None = None,
    status: RunStatusName | None = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=36,
            pattern="^[0-9a-f-]+$",
            description="Only runs whose id starts with this (the dashboard shows 8 characters).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[RunPublic]:
    """Runs, newest first, optionally of one agent and/or status, or by the start of their id."""
    runs = await services.runs.list(
        agent_id=agent_id, status=status, id_prefix=id_prefix, limit=limit, offset=offset
    )
    return runs.map(RunPublic.of)


@router.post("/import", response_model=RunPublic, status_code=201, operation_id="importRun")
async def import_run(body: RunImportRequest, services: ServicesDep, key: WriteKey) -> RunPublic:
    """Store a finished run made elsewhere (the pytest plugin's, say) with its results, against
    the agent's current version; it is then compared, reported and listed as any other run."""
    return RunPublic.of(await services.runs.import_run(body.command(api_key_id=key.key_id)))


@router.get("/{run_id}", response_model=RunPublic, operation_id="getRun")
async def get_run(run_id: str, services: ServicesDep, _: ReadKey) -> RunPublic:
    return RunPublic.of(await services.runs.get(run_id))


@router.get("/{run_id}/results", response_model=Page[TestResult], operation_id="listRunResults")
async def run_results(
    run_id: str,
    services: ServicesDep,
    _: ReadKey,
    status: Literal["passed", "failed", "error"] | None = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[TestResult]:
    """A run's finished results in case order, filtered by status and/or tag."""
    return await services.runs.results(run_id, status=status, tag=tag, limit=limit, offset=offset)


@router.post("/{run_id}/cancel", response_model=RunPublic, operation_id="cancelRun")
async def cancel_run(run_id: str, services: ServicesDep, _: WriteKey) -> RunPublic:
    """Stop a run: queued cases are cancelled, in-flight ones are stopped."""
    return RunPublic.of(await services.runs.cancel(run_id))
