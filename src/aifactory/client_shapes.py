"""The SDK's shapes of the server's answers: what :class:`~aifactory.Client` methods return.

The server's response shapes (``aifactory.api.schemas``) and these carry the same names and
fields (``tests/unit/test_client_shapes.py`` holds them together), so the SDK reads every answer
without importing the server. Unknown fields are ignored: a newer server's additions do not
break an older SDK. Shapes the domain already defines are used as they are: the test records
(:class:`~aifactory.TestResult`), one page of a list (:class:`~aifactory.Page`), comparisons
and trends, reflections.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from aifactory.domain.models import AgentKind, TestCase, TestResult
from aifactory.domain.runs import RunStatus

__all__ = [
    "AgentPublic",
    "AgentVersionPublic",
    "BatchAccepted",
    "DatabaseMetrics",
    "Health",
    "KeyCreated",
    "KeyPublic",
    "LabelPublic",
    "MetricsPublic",
    "ResponseTimes",
    "RunPublic",
    "RunStatusPublic",
    "SuitePublic",
]


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


class BatchAccepted(BaseModel):
    """A batch the server took: the run to follow, at ``status_url``."""

    run_id: str
    status: RunStatus
    total: int
    status_url: str


class RunPublic(BaseModel):
    """A run's state and counters; ``completed + remaining == total``."""

    run_id: str
    agent_id: str
    agent_version: int
    suite_id: str | None
    name: str | None
    status: RunStatus
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


class RunStatusPublic(RunPublic):
    """A run and a first page of its results."""

    results: list[TestResult]
    results_total: int


class KeyPublic(BaseModel):
    """An API key as listed: never its secret."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    """A new key; ``key`` is shown this once and never again."""

    key: str


class Health(BaseModel):
    """Whether the server and its database answer."""

    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok", "error"]
    queue: dict[str, Any]
    uptime_s: float


class ResponseTimes(BaseModel):
    """Response times in ms."""

    avg: float
    p50: float
    p95: float
    p99: float


class DatabaseMetrics(BaseModel):
    """The database's connection pool."""

    backend: str
    pool_size: int
    checked_out: int


class MetricsPublic(BaseModel):
    """The server's counters: requests, errors, response times, runs."""

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


class LabelPublic(BaseModel):
    """A reviewer's verdict on a result, or on one of its checks (``check``, its index)."""

    id: str
    result_id: str
    check: int | None
    passed: bool
    score: float | None
    comment: str | None
    reviewer: str
    created_at: datetime
