"""Agents and their versions."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.errors import InvalidInput
from aifactory.api.schemas import AgentPatch, AgentPublic, AgentVersionPublic, Page
from aifactory.domain.models import AgentSpec
from aifactory.domain.records import AgentRecord, AgentVersionRecord
from aifactory.domain.secrets import mask, restore
from aifactory.service.validation import validate_agent
from aifactory.store import agents_repo
from aifactory.store.database import Database


def agent_public(record: AgentRecord) -> AgentPublic:
    spec = record.spec
    assert spec.id is not None
    return AgentPublic(
        id=spec.id,
        name=spec.name,
        kind=spec.kind,
        config=mask(spec.config),
        max_concurrency=spec.max_concurrency,
        rate_limit_per_minute=spec.rate_limit_per_minute,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def version_public(record: AgentVersionRecord) -> AgentVersionPublic:
    spec = record.spec
    return AgentVersionPublic(
        agent_id=record.agent_id,
        version=record.version,
        state=record.state,
        kind=spec.kind,
        config=mask(spec.config),
        max_concurrency=spec.max_concurrency,
        rate_limit_per_minute=spec.rate_limit_per_minute,
        parent_version=record.parent_version,
        rationale=record.rationale,
        created_at=record.created_at,
    )


class AgentService:
    """Registers, versions and retires agents."""

    def __init__(self, db: Database, policy: AddressPolicy, *, env: EnvPolicy) -> None:
        self.db = db
        self.policy = policy
        self.env = env

    async def create(self, spec: AgentSpec) -> AgentPublic:
        validate_agent(spec, self.policy, self.env)
        async with self.db.write() as session:
            record = await agents_repo.create_agent(session, spec)
        return agent_public(record)

    async def get(self, agent_id: str) -> AgentPublic:
        async with self.db.session() as session:
            return agent_public(await agents_repo.get_agent(session, agent_id))

    async def spec(self, agent_id: str) -> tuple[AgentSpec, int]:
        """The current spec (with its secrets) and version, for running."""
        async with self.db.session() as session:
            record = await agents_repo.get_agent(session, agent_id)
        return record.spec, record.version

    async def list(self, *, limit: int, offset: int) -> Page[AgentPublic]:
        async with self.db.session() as session:
            page = await agents_repo.list_agents(session, limit=limit, offset=offset)
        return Page[AgentPublic](
            items=[agent_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    async def update(self, agent_id: str, patch: AgentPatch) -> AgentPublic:
        async with self.db.write() as session:
            current = await agents_repo.get_agent(session, agent_id)
            data: dict[str, Any] = current.spec.model_dump()
            changes = patch.model_dump(exclude_unset=True)
            if "config" in changes and changes["config"] is not None:
                changes["config"] = restore(changes["config"], current.spec.config)
            data.update({k: v for k, v in changes.items() if v is not None or k == "name"})
            try:
                spec = AgentSpec.model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise InvalidInput(
                    f"Invalid agent: {field}: {first['msg']}.",
                    details=[{"field": field, "message": first["msg"]}],
                ) from exc
            validate_agent(spec, self.policy, self.env)
            record = await agents_repo.update_agent(session, agent_id, spec)
        return agent_public(record)

    async def delete(self, agent_id: str) -> None:
        async with self.db.write() as session:
            await agents_repo.delete_agent(session, agent_id)

    async def versions(self, agent_id: str, *, limit: int, offset: int) -> Page[AgentVersionPublic]:
        async with self.db.session() as session:
            page = await agents_repo.list_versions(session, agent_id, limit=limit, offset=offset)
        return Page[AgentVersionPublic](
            items=[version_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )
