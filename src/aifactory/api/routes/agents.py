"""Agents, their versions and their history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from aifactory.api import examples
from aifactory.api.deps import ReadKey, ServicesDep, WriteKey
from aifactory.api.links import link, linked
from aifactory.api.schemas import AgentPatch, AgentPublic, AgentVersionPublic
from aifactory.domain.models import AgentSpec, TestResult
from aifactory.domain.paging import Page

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])

_AGENT_ID = "$response.body#/id"
_BY_PATH = {"agent_id": _AGENT_ID}
AGENT_LINKS = {
    "GetAgent": link("getAgent", "The agent.", parameters=_BY_PATH),
    "UpdateAgent": link("updateAgent", "Change the agent.", parameters=_BY_PATH),
    "DeleteAgent": link("deleteAgent", "Retire the agent.", parameters=_BY_PATH),
    "ListAgentVersions": link("listAgentVersions", "The agent's versions.", parameters=_BY_PATH),
    "ListAgentResults": link("listAgentResults", "The agent's results.", parameters=_BY_PATH),
    "GetAgentTrend": link("getAgentTrend", "The agent's pass rate over runs.", parameters=_BY_PATH),
    "ListRunsOfAgent": link("listRuns", "The agent's runs.", parameters=_BY_PATH),
    "RunTestOnAgent": link(
        "runTest", "Run one case against the agent now.", request_body={"agent_id": _AGENT_ID}
    ),
    "SubmitBatchForAgent": link(
        "submitBatch",
        "Run cases against the agent in the background.",
        request_body={"agent_id": _AGENT_ID},
    ),
    "ReflectAgent": link(
        "reflectAgent", "Start the reflection loop on the agent.", parameters=_BY_PATH
    ),
    "ListReflectionsOfAgent": link(
        "listReflections", "The agent's reflections.", parameters=_BY_PATH
    ),
}
"""Where an agent leads: its ``id`` names it in a path, a query or a request body."""


@router.post(
    "",
    response_model=AgentPublic,
    status_code=201,
    operation_id="createAgent",
    responses={201: linked("The agent, at version 1.", AGENT_LINKS)},
)
async def create_agent(
    body: Annotated[AgentSpec, Body(openapi_examples=examples.AGENT)],
    services: ServicesDep,
    _: WriteKey,
) -> AgentPublic:
    """Register an agent (version 1); a taken id is a 409."""
    return AgentPublic.of(await services.agents.create(body))


@router.get("", response_model=Page[AgentPublic], operation_id="listAgents")
async def list_agents(
    services: ServicesDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AgentPublic]:
    return (await services.agents.list(limit=limit, offset=offset)).map(AgentPublic.of)


@router.get("/{agent_id}", response_model=AgentPublic, operation_id="getAgent")
async def get_agent(agent_id: str, services: ServicesDep, _: ReadKey) -> AgentPublic:
    return AgentPublic.of(await services.agents.get(agent_id))


@router.patch(
    "/{agent_id}",
    response_model=AgentPublic,
    operation_id="updateAgent",
    responses={200: linked("The agent, at its new version if one was made.", AGENT_LINKS)},
)
async def update_agent(
    agent_id: str, body: AgentPatch, services: ServicesDep, _: WriteKey
) -> AgentPublic:
    """Change an agent; a new config makes version n+1 (``********`` keeps a stored secret)."""
    changes = body.model_dump(exclude_unset=True)
    return AgentPublic.of(await services.agents.update(agent_id, changes))


@router.delete("/{agent_id}", status_code=204, operation_id="deleteAgent", response_class=Response)
async def delete_agent(agent_id: str, services: ServicesDep, _: WriteKey) -> Response:
    """Retire an agent; its runs and results stay readable."""
    await services.agents.delete(agent_id)
    return Response(status_code=204)


@router.get(
    "/{agent_id}/versions",
    response_model=Page[AgentVersionPublic],
    operation_id="listAgentVersions",
)
async def list_versions(
    agent_id: str,
    services: ServicesDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AgentVersionPublic]:
    versions = await services.agents.versions(agent_id, limit=limit, offset=offset)
    return versions.map(AgentVersionPublic.of)


@router.get("/{agent_id}/results", response_model=Page[TestResult], operation_id="listAgentResults")
async def agent_results(
    agent_id: str,
    services: ServicesDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[TestResult]:
    """The agent's finished results over all versions, newest first."""
    return await services.runs.agent_results(agent_id, limit=limit, offset=offset)
