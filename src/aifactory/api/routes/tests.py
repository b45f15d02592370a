"""The seed endpoints for running tests: one case now, a batch in the background, its status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response

from aifactory.api import examples
from aifactory.api.deps import ReadKey, ServicesDep, WriteKey
from aifactory.api.links import linked, run_links
from aifactory.api.schemas import BatchAccepted, BatchRequest, RunStatusPublic, TestRunRequest
from aifactory.domain.models import TestResult

router = APIRouter(prefix="/api/v1/test", tags=["tests"])

RUN_LINKS = run_links("$response.body#/run_id")


@router.post(
    "/run",
    response_model=TestResult,
    operation_id="runTest",
    responses={200: linked("The result; a stored agent's names its run.", RUN_LINKS)},
)
async def run_test(
    body: Annotated[TestRunRequest, Body(openapi_examples=examples.RUN)],
    services: ServicesDep,
    _: WriteKey,
) -> TestResult:
    """Run one case against an agent now and answer its result."""
    return await services.runs.run_one(body.test_case, agent_id=body.agent_id, agent=body.agent)


@router.post(
    "/batch",
    response_model=BatchAccepted,
    status_code=202,
    operation_id="submitBatch",
    responses={202: linked("The run, queued.", RUN_LINKS)},
)
async def submit_batch(
    body: Annotated[BatchRequest, Body(openapi_examples=examples.BATCH)],
    services: ServicesDep,
    key: WriteKey,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> BatchAccepted:
    """Queue cases (inline or a suite's) to run in the background; answers at once."""
    command = body.command(api_key_id=key.key_id, idempotency_key=idempotency_key)
    accepted = BatchAccepted.of(await services.runs.submit(command))
    response.headers["Location"] = accepted.status_url
    return accepted


@router.get("/status/{run_id}", response_model=RunStatusPublic, operation_id="getRunStatus")
async def run_status(
    run_id: str,
    services: ServicesDep,
    _: ReadKey,
    results_limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    results_offset: Annotated[int, Query(ge=0)] = 0,
) -> RunStatusPublic:
    """A run's progress, counters, summary and a first page of its results."""
    run, results = await services.runs.status(run_id, limit=results_limit, offset=results_offset)
    return RunStatusPublic.of_page(run, results)
