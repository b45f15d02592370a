"""The HTTP shapes of the v1 API (``XCreate`` in, ``XPublic`` out, ``XsPublic`` for lists)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aifactory.domain.models import (
    ID_PATTERN,
    AgentKind,
    AgentSpec,
    CheckSpec,
    TestCase,
    TestResult,
)
from aifactory.domain.paging import Page
from aifactory.domain.records import AgentRecord, AgentVersionRecord, ApiKeyRecord, SuiteRecord
from aifactory.domain.runs import BatchCommand, Run, RunImport
from aifactory.domain.secrets import mask

Scope = Literal["read", "write", "admin"]
DEFAULT_SCOPES: tuple[Scope, ...] = ("read", "write")
RunStatusName = Literal["queued", "running", "completed", "failed", "cancelled"]


# Agents ------------------------------------------------------------------------------------


class AgentPatch(BaseModel):
    """Fields to change; a change of kind, config or limits makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: AgentKind | None = None
    config: dict[str, Any] | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=1000)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)


class AgentPublic(BaseModel):
    """An agent's current version; secrets in its config read ``********``."""

    id: str
    name: str | None
    kind: AgentKind
    config: dict[str, Any]
    max_concurrency: int
    rate_limit_per_minute: int | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: AgentRecord) -> AgentPublic:
        """The agent as answered: its config's secrets masked."""
        spec = record.spec
        assert spec.id is not None
        return cls(
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


class AgentVersionPublic(BaseModel):
    """One version of an agent."""

    agent_id: str
    version: int
    state: str
    kind: AgentKind
    config: dict[str, Any]
    max_concurrency: int
    rate_limit_per_minute: int | None
    parent_version: int | None
    rationale: str | None
    created_at: datetime

    @classmethod
    def of(cls, record: AgentVersionRecord) -> AgentVersionPublic:
        spec = record.spec
        return cls(
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


# Suites ------------------------------------------------------------------------------------


class SuiteDefaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[CheckSpec] = Field(default_factory=list)


class SuiteCreate(BaseModel):
    """A suite sent as JSON."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    defaults: SuiteDefaultsIn = Field(default_factory=SuiteDefaultsIn)
    test_cases: list[TestCase] = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)


class SuitePublic(BaseModel):
    """A suite, with a page of its cases when read alone."""

    id: str
    name: str
    description: str | None
    version: int
    case_count: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = Field(default_factory=list)
    test_cases: list[TestCase] | None = None

    @classmethod
    def of(
        cls,
        record: SuiteRecord,
        *,
        cases: list[TestCase] | None = None,
        warnings: list[str] | None = None,
    ) -> SuitePublic:
        return cls(
            id=record.id,
            name=record.name,
            description=record.description,
            version=record.version,
            case_count=record.case_count,
            metadata=record.metadata,
            created_at=record.created_at,
            updated_at=record.updated_at,
            warnings=warnings or [],
            test_cases=cases,
        )


# Runs --------------------------------------------------------------------------------------


class TestRunRequest(BaseModel):
    """``POST /api/v1/test/run``: one case against a stored or an inline agent."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = None
    agent: AgentSpec | None = None
    test_case: TestCase

    @model_validator(mode="after")
    def _one_agent(self) -> TestRunRequest:
        if (self.agent_id is None) == (self.agent is None):
            raise ValueError("give exactly one of agent_id or agent")
        return self


class BatchRequest(BaseModel):
    """``POST /api/v1/test/batch``: cases inline or a stored suite, run in the background."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    test_cases: list[TestCase] | None = Field(default=None, min_length=1)
    suite_id: str | None = None
    name: str | None = Field(default=None, max_length=200)
    concurrency: int | None = Field(default=None, ge=1, le=1000)
    repeat: int = Field(default=1, ge=1, le=100)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> BatchRequest:
        if (self.test_cases is None) == (self.suite_id is None):
            raise ValueError("give exactly one of test_cases or suite_id")
        return self

    def command(self, *, api_key_id: str, idempotency_key: str | None) -> BatchCommand:
        """The batch this request asks for, on behalf of ``api_key_id``."""
        return BatchCommand(
            agent_id=self.agent_id,
            test_cases=self.test_cases,
            suite_id=self.suite_id,
            name=self.name,
            concurrency=self.concurrency,
            repeat=self.repeat,
            metadata=self.metadata,
            api_key_id=api_key_id,
            idempotency_key=idempotency_key,
        )


class RunImportRequest(BaseModel):
    """``POST /api/v1/runs/import``: a finished run made elsewhere, with its results."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    results: list[TestResult] = Field(min_length=1, max_length=100_000)
    name: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def command(self, *, api_key_id: str) -> RunImport:
        """The run to store, on behalf of ``api_key_id``."""
        return RunImport(
            agent_id=self.agent_id,
            results=self.results,
            name=self.name,
            metadata=self.metadata,
            api_key_id=api_key_id,
        )


class BatchAccepted(BaseModel):
    run_id: str
    status: RunStatusName
    total: int
    status_url: str

    @classmethod
    def of(cls, run: Run) -> BatchAccepted:
        return cls(
            run_id=run.id,
            status=run.status.value,
            total=run.total,
            status_url=f"/api/v1/test/status/{run.id}",
        )


class RunPublic(BaseModel):
    """A run's state and counters; ``completed + remaining == total``."""

    run_id: str
    agent_id: str
    agent_version: int
    suite_id: str | None
    name: str | None
    status: RunStatusName
    total: int
    completed: int
    remaining: int
    passed: int
    failed: int
    errored: int
    progress: float
    summary: dict[str, Any] | None
    error: str | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> RunPublic:
        return cls(**_run_fields(run))


def _run_fields(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "agent_id": run.agent_id,
        "agent_version": run.agent_version,
        "suite_id": run.suite_id,
        "name": run.name,
        "status": run.status.value,
        "total": run.total,
        "completed": run.completed,
        "remaining": run.remaining,
        "passed": run.passed,
        "failed": run.failed,
        "errored": run.errored,
        "progress": run.progress,
        "summary": run.summary,
        "error": run.error,
        "metadata": run.metadata,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


class RunStatusPublic(RunPublic):
    """``GET /api/v1/test/status/{run_id}``: the run and a first page of its results."""

    results: list[TestResult]
    results_total: int

    @classmethod
    def of_page(cls, run: Run, results: Page[TestResult]) -> RunStatusPublic:
        return cls(**_run_fields(run), results=results.items, results_total=results.total)


# Keys --------------------------------------------------------------------------------------


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)


class KeyPublic(BaseModel):
    """An API key as listed: never its secret."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyPublic:
        return cls(**_key_fields(record))


def _key_fields(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "scopes": list(record.scopes),
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    }


class KeyCreated(KeyPublic):
    """A new key; ``key`` is shown this once and never again."""

    key: str

    @classmethod
    def of_new(cls, record: ApiKeyRecord, key: str) -> KeyCreated:
        return cls(**_key_fields(record), key=key)


# Operations ----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "error"]
    queue: dict[str, Any]
    uptime_s: float


class Pong(BaseModel):
    message: Literal["pong"] = "pong"


class ResponseTimes(BaseModel):
    avg: float
    p50: float
    p95: float
    p99: float


class DatabaseMetrics(BaseModel):
    backend: str
    pool_size: int
    checked_out: int


class MetricsPublic(BaseModel):
    version: str
    uptime_s: float
    requests_total: int
    errors_total: int
    error_rate: float
    response_time_ms: ResponseTimes
    runs: dict[str, int]
    cases_executed_total: int
    database: DatabaseMetrics
    queue: dict[str, Any] = Field(default_factory=dict)
