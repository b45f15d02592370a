"""Records the store returns besides the domain models: agents, suites and keys as stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aifactory.domain.models import AgentSpec


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent's current version, with its bookkeeping."""

    spec: AgentSpec
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def id(self) -> str:
        assert self.spec.id is not None, "a stored agent always has an id"
        return self.spec.id

    @property
    def name(self) -> str | None:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass(frozen=True, slots=True)
class AgentVersionRecord:
    """One version of an agent."""

    agent_id: str
    version: int
    spec: AgentSpec
    state: str
    """``active``, ``candidate``, ``proposed`` or ``archived``."""
    parent_version: int | None
    rationale: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SuiteRecord:
    """A suite without its cases (read those with ``suites_repo.iter_cases``)."""

    id: str
    name: str
    description: str | None
    version: int
    case_count: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as listed: never its secret."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """Whether the key carries ``scope``: admin implies write, which implies read."""
        ladder = {"read": 0, "write": 1, "admin": 2}
        need = ladder.get(scope)
        if need is None:
            return scope in self.scopes
        return any(ladder.get(s, -1) >= need for s in self.scopes)


@dataclass(frozen=True, slots=True)
class IdempotencyOutcome:
    """The run an ``Idempotency-Key`` stands for, and whether this call recorded it."""

    run_id: str
    created: bool
