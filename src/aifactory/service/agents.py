"""Agents and their versions."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.models import AgentSpec
from aifactory.domain.paging import Page
from aifactory.domain.records import AgentRecord, AgentVersionRecord
from aifactory.domain.secrets import restore
from aifactory.errors import InvalidInput
from aifactory.service.validation import validate_agent
from aifactory.store import agents_repo
from aifactory.store.database import Database


class AgentService:
    """Registers, versions and retires agents."""

    def __init__(self, db: Database, policy: AddressPolicy, *, env: EnvPolicy) -> None:
        self.db = db
        self.policy = policy
        self.env = env

    async def create(self, spec: AgentSpec) -> AgentRecord:
        validate_agent(spec, self.policy, self.env)
        async with self.db.write() as session:
            return await agents_repo.create_agent(session, spec)

    async def get(self, agent_id: str) -> AgentRecord:
        async with self.db.session() as session:
            return await agents_repo.get_agent(session, agent_id)

    async def spec(self, agent_id: str) -> tuple[AgentSpec, int]:
        """The current spec (with its secrets) and version, for running."""
        async with self.db.session() as session:
            record = await agents_repo.get_agent(session, agent_id)
        return record.spec, record.version

    async def list(self, *, limit: int, offset: int) -> Page[AgentRecord]:
        async with self.db.session() as session:
            return await agents_repo.list_agents(session, limit=limit, offset=offset)

    async def update(self, agent_id: str, changes: dict[str, Any]) -> AgentRecord:
        """Apply ``changes`` (the fields a caller set); a masked secret keeps the stored one."""
        changes = dict(changes)
        async with self.db.write() as session:
            current = await agents_repo.get_agent(session, agent_id)
            data: dict[str, Any] = current.spec.model_dump()
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
            return await agents_repo.update_agent(session, agent_id, spec)

    async def delete(self, agent_id: str) -> None:
        async with self.db.write() as session:
            await agents_repo.delete_agent(session, agent_id)

    async def versions(self, agent_id: str, *, limit: int, offset: int) -> Page[AgentVersionRecord]:
        async with self.db.session() as session:
            return await agents_repo.list_versions(session, agent_id, limit=limit, offset=offset)
