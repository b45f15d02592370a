"""Reflections: start the loop on an agent, follow it, list, cancel, and its report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from aifactory.api import examples
from aifactory.api.deps import ReadKey, Services, ServicesDep, WriteKey
from aifactory.api.links import link, linked
from aifactory.domain.paging import Page
from aifactory.domain.reflection import ReflectionAccepted, ReflectionCreate, ReflectionPublic
from aifactory.errors import Unavailable
from aifactory.reports.html import REPORT_CSP
from aifactory.service.reflection import ReflectionService

router = APIRouter(tags=["reflections"])

_BY_ID = {"reflection_id": "$response.body#/reflection_id"}
REFLECTION_LINKS = {
    "GetReflection": link("getReflection", "The reflection so far.", parameters=_BY_ID),
    "CancelReflection": link("cancelReflection", "Stop the reflection.", parameters=_BY_ID),
    "GetReflectionReport": link(
        "getReflectionReport", "The reflection's report.", parameters=_BY_ID
    ),
}


def _service(services: Services) -> ReflectionService:
    if services.reflections is None:
        raise Unavailable("Reflections are not available on this server; try again shortly.")
    return services.reflections


@router.post(
    "/api/v1/agents/{agent_id}/reflect",
    response_model=ReflectionAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="reflectAgent",
    responses={202: linked("The reflection, started.", REFLECTION_LINKS)},
)
async def reflect(
    agent_id: str,
    body: Annotated[ReflectionCreate, Body(openapi_examples=examples.REFLECTION)],
    services: ServicesDep,
    _: WriteKey,
) -> ReflectionAccepted:
    """Start the reflection loop on the agent over a suite; follow it at ``status_url``."""
    return await _service(services).start(agent_id, body)


@router.get(
    "/api/v1/reflections", response_model=Page[ReflectionPublic], operation_id="listReflections"
)
async def list_reflections(
    services: ServicesDep,
    _: ReadKey,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ReflectionPublic]:
    """Reflections, newest first, optionally of one agent."""
    page = await _service(services).list(agent_id=agent_id, limit=limit, offset=offset)
    return Page[ReflectionPublic](
        items=page.items, total=page.total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/api/v1/reflections/{reflection_id}",
    response_model=ReflectionPublic,
    operation_id="getReflection",
)
async def get_reflection(reflection_id: str, services: ServicesDep, _: ReadKey) -> ReflectionPublic:
    """The reflection: baseline, iterations with every candidate, stop reason, cost."""
    return await _service(services).get(reflection_id)


@router.post(
    "/api/v1/reflections/{reflection_id}/cancel",
    response_model=ReflectionPublic,
    operation_id="cancelReflection",
)
async def cancel_reflection(
    reflection_id: str, services: ServicesDep, _: WriteKey
) -> ReflectionPublic:
    """Stop the loop and its runs; everything measured so far is kept."""
    return await _service(services).cancel(reflection_id)


@router.get(
    "/api/v1/reflections/{reflection_id}/report",
    operation_id="getReflectionReport",
    response_class=Response,
    responses={
        200: {"description": "The report.", "content": {"text/html": {}, "text/markdown": {}}}
    },
)
async def reflection_report(
    reflection_id: str,
    services: ServicesDep,
    _: ReadKey,
    format: Annotated[Literal["html", "markdown"], Query(description="The format.")] = "html",
) -> Response:
    """Pass rate per step with intervals, verdicts and prompt diffs, as HTML or Markdown."""
    body, media_type = await _service(services).report(reflection_id, format)
    extension = "html" if format == "html" else "md"
    disposition = "inline" if format == "html" else "attachment"
    headers = {
        "Content-Disposition": (
            f'{disposition}; filename="aifactory-reflection-{reflection_id}.{extension}"'
        ),
        "X-Content-Type-Options": "nosniff",
    }
    if format == "html":
        headers["Content-Security-Policy"] = REPORT_CSP
    return Response(content=body, media_type=media_type, headers=headers)
