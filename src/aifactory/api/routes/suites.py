"""Suites: JSON or an imported file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Form, Query, Response, UploadFile

from aifactory.api import examples
from aifactory.api.deps import ReadKey, ServicesDep, WriteKey
from aifactory.api.links import linked, suite_links
from aifactory.api.schemas import SuiteCreate, SuitePublic
from aifactory.domain.models import ID_PATTERN
from aifactory.domain.paging import Page
from aifactory.errors import InvalidInput
from aifactory.service.suites import IMPORT_EXTENSIONS

router = APIRouter(prefix="/api/v1/suites", tags=["suites"])

SUITE_LINKS = suite_links("$response.body#/id")


@router.post(
    "",
    response_model=SuitePublic,
    status_code=201,
    operation_id="createSuite",
    responses={201: linked("The suite.", SUITE_LINKS)},
)
async def create_suite(
    body: Annotated[SuiteCreate, Body(openapi_examples=examples.SUITE)],
    services: ServicesDep,
    _: WriteKey,
) -> SuitePublic:
    record = await services.suites.create(
        id=body.id,
        name=body.name,
        description=body.description,
        metadata=body.metadata,
        test_cases=body.test_cases,
        default_checks=body.defaults.checks,
    )
    return SuitePublic.of(record)


@router.post(
    "/import",
    response_model=SuitePublic,
    status_code=201,
    operation_id="importSuite",
    responses={201: linked("The imported suite.", SUITE_LINKS)},
)
async def import_suite(
    file: UploadFile,
    services: ServicesDep,
    _: WriteKey,
    id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None,
) -> SuitePublic:
    """Import a YAML, JSON, JSONL, CSV or promptfoo file sent as multipart field ``file``."""
    name = file.filename or ""
    if not name.lower().endswith(IMPORT_EXTENSIONS):
        raise InvalidInput(
            f"The file name must end with one of {', '.join(IMPORT_EXTENSIONS)} "
            f"to tell its format; got {name!r}.",
            details=[{"field": "file", "message": "unknown extension"}],
        )
    data = await file.read()
    record, warnings = await services.suites.import_file(name, data, suite_id=id)
    return SuitePublic.of(record, warnings=warnings)


@router.get("", response_model=Page[SuitePublic], operation_id="listSuites")
async def list_suites(
    services: ServicesDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[SuitePublic]:
    return (await services.suites.list(limit=limit, offset=offset)).map(SuitePublic.of)


@router.get("/{suite_id}", response_model=SuitePublic, operation_id="getSuite")
async def get_suite(
    suite_id: str,
    services: ServicesDep,
    _: ReadKey,
    cases_limit: Annotated[int, Query(ge=0, le=1000)] = 100,
    cases_offset: Annotated[int, Query(ge=0)] = 0,
) -> SuitePublic:
    """A suite with a page of its cases."""
    record, cases = await services.suites.get(
        suite_id, cases_limit=cases_limit, cases_offset=cases_offset
    )
    return SuitePublic.of(record, cases=cases)


@router.delete("/{suite_id}", status_code=204, operation_id="deleteSuite", response_class=Response)
async def delete_suite(suite_id: str, services: ServicesDep, _: WriteKey) -> Response:
    await services.suites.delete(suite_id)
    return Response(status_code=204)
