"""The small records repositories return besides domain models; never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from aifactory.domain.models import AgentSpec, TestCase

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, as every list endpoint answers it."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent's current version, with its bookkeeping."""

    spec: AgentSpec
    version: int
    created_at: datetime
    updated_at: datetime


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
class RunRecord:
    """A run and its counters; ``completed + remaining == total``."""

    id: str
    agent_id: str
    agent_version: int
    suite_id: str | None
    suite_version: int | None
    name: str | None
    status: str
    total: int
    completed: int
    passed: int
    failed: int
    errored: int
    cancelled: int
    repeat: int
    concurrency: int | None
    metadata: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def remaining(self) -> int:
        """Cases not finished yet (pending, running or cancelled)."""
        return self.total - self.completed

    @property
    def progress(self) -> float:
        """Finished share of the run, in [0, 1]."""
        return 1.0 if self.total == 0 else self.completed / self.total


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a caller says about a run it is creating."""

    agent_id: str
    agent_version: int
    name: str | None = None
    suite_id: str | None = None
    suite_version: int | None = None
    repeat: int = 1
    concurrency: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    api_key_id: str | None = None
    id: str | None = None
    """A run id chosen by the caller (e.g. to answer before the insert); else a new UUID."""


@dataclass(frozen=True, slots=True)
class ClaimedCase:
    """A case a worker holds under a lease until it completes it or the lease runs out."""

    result_id: str
    run_id: str
    agent_id: str
    agent_version: int
    case_index: int
    repeat_index: int
    test_case: TestCase
    attempts: int
    lease_expires_at: datetime


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


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    """A case whose worker let its lease run out; the reconciler hands it out again."""

    result_id: str
    run_id: str
    lease_owner: str | None
    attempts: int
