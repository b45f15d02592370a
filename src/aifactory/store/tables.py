"""The database schema: typed declarative tables that work the same on SQLite and PostgreSQL.

Portable choices: ids are 36-character UUID strings (agents and suites take client ids), JSON is
``JSON`` with ``JSONB`` on PostgreSQL, and datetimes are timezone-aware UTC on both backends
(:class:`UTCDateTime` restores the zone SQLite drops).

The indexes serve the hot queries: an agent's finished results newest first (a partial index that
leaves pending rows out), a run's results by status, claiming a run's pending cases, expired
leases, and runs by agent, status and creation time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RESULT_STATUSES = ("pending", "running", "passed", "failed", "error", "cancelled")
FINISHED_STATUSES = ("passed", "failed", "error")
VERSION_STATES = ("active", "candidate", "proposed", "archived")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no zones: values are stored as UTC wall time and read back with ``UTC`` attached.
    Naive datetimes are refused so a local time can never be stored by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Datetimes stored in the database must be timezone-aware (UTC).")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
NullableJSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON whose Python ``None`` is SQL ``NULL`` (not the JSON ``null``), for optional documents."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Agent(Base):
    """An agent under test; its behaviour lives in its versions."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class AgentResultCount(Base):
    """Part of an agent's count of finished results (every version), so its total is O(1).

    The count is the sum of the agent's rows; writers add to one of a few at random
    (:mod:`aifactory.store.counts_repo`), so they do not all queue for one row's lock.
    """

    __tablename__ = "agent_result_counts"

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AgentVersion(Base):
    """One configuration of an agent; results point at the version that produced them."""

    __tablename__ = "agent_versions"

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=8)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="active")
    parent_version: Mapped[int | None] = mapped_column(Integer)
    rationale: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suite(Base):
    """A named set of test cases; replacing its cases makes a new version."""

    __tablename__ = "suites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuiteCase(Base):
    """One test case of one version of a suite."""

    __tablename__ = "suite_cases"

    suite_id: Mapped[str] = mapped_column(
        ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_case: Mapped[dict[str, Any]] = mapped_column(JSONType)


class Run(Base):
    """A batch (or a single case) executed against one agent version.

    The counters are updated in the same transaction as each finished result, so polling a run's
    status reads one row.
    """

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    agent_version: Mapped[int] = mapped_column(Integer)
    suite_id: Mapped[str | None] = mapped_column(String(64))
    suite_version: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errored: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    repeat: Mapped[int] = mapped_column(Integer, default=1)
    concurrency: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Result(Base):
    """One case (and repeat) of a run: pending until a worker claims it, then its outcome."""

    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("run_id", "case_index", "repeat_index"),
        Index("ix_results_run_status", "run_id", "status", "case_index", "repeat_index"),
        Index(
            "ix_results_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    agent_version: Mapped[int] = mapped_column(Integer)
    case_index: Mapped[int] = mapped_column(Integer)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    test_case: Mapped[dict[str, Any]] = mapped_column(JSONType)
    tags: Mapped[str] = mapped_column(Text, default="")
    """The case's tags as ``,a,b,`` so ``LIKE '%,a,%'`` filters on every backend."""
    status: Mapped[str] = mapped_column(String(20), default="pending")
    passed: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    checks: Mapped[list[Any] | None] = mapped_column(JSONType)
    tool_calls: Mapped[list[Any] | None] = mapped_column(JSONType)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    judge_input_tokens: Mapped[int | None] = mapped_column(Integer)
    judge_output_tokens: Mapped[int | None] = mapped_column(Integer)
    judge_cost_usd: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    transcript: Mapped[list[Any] | None] = mapped_column(NullableJSONType)
    """A conversation's messages (bounded to about 256 KB); NULL for single-turn cases."""
    turns: Mapped[int | None] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(String(20))
    simulator_input_tokens: Mapped[int | None] = mapped_column(Integer)
    simulator_output_tokens: Mapped[int | None] = mapped_column(Integer)
    simulator_cost_usd: Mapped[float | None] = mapped_column(Float)
    judge_uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether a judge check scored near its threshold or its samples split, decided when the
    result is written (:func:`aifactory.domain.review.uncertainty`): what the ``uncertain``
    review queue reads, by the partial indexes ``ix_results_*_uncertain``."""
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


# Indexes in descending order need the column objects, so they follow their classes.
Index("ix_runs_agent_created", Run.agent_id, Run.created_at.desc())
Index("ix_runs_status_created", Run.status, Run.created_at.desc())
Index("ix_runs_created", Run.created_at.desc())
Index(
    "ix_results_agent_finished",
    Result.agent_id,
    Result.finished_at.desc(),
    Result.id.desc(),
    postgresql_where=Result.finished_at.is_not(None),
    sqlite_where=Result.finished_at.is_not(None),
)
# Only the few results a judge was unsure of: the uncertain review queue, an agent's newest
# first and a run's in case order.
Index(
    "ix_results_agent_uncertain",
    Result.agent_id,
    Result.finished_at.desc(),
    Result.id.desc(),
    postgresql_where=text("judge_uncertain"),
    sqlite_where=text("judge_uncertain = 1"),
)
Index(
    "ix_results_run_uncertain",
    Result.run_id,
    Result.case_index,
    Result.repeat_index,
    postgresql_where=text("judge_uncertain"),
    sqlite_where=text("judge_uncertain = 1"),
)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 hash and a short prefix for display."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))
    """Space-separated scopes: ``read``, ``write``, ``admin``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` seen from one API key, with the body it came with (24 h)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires", "expires_at"),)

    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Lock(Base):
    """A named lease held by one process (e.g. the reconciler's leader) until it expires."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()


class Reflection(Base):
    """A reflection loop on one agent and suite; its baseline and iterations kept as JSON.

    ``heartbeat_at`` is stamped by the process running the loop; a loop whose heartbeat stops
    (its server died) is marked failed by whichever process notices it next.
    """

    __tablename__ = "reflections"
    __table_args__ = (Index("ix_reflections_agent_created", "agent_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    suite_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    stop_reason: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """``{"mode", "alpha", "baseline", "iterations"}``: everything the loop measured."""
    accepted_version: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)


class Label(Base):
    """A reviewer's pass or fail on a result, or on one of its checks (``check_index``).

    What the label is measured against is copied from its result when it is written (a finished
    result never changes): the agent, run and suite, and the judge check it counts for
    (``judged_check``, with its type, criterion and verdict; None when it counts for none). So
    an agent's agreement reads its labels alone. ``reviewer`` is the name of the key that wrote it.
    """

    __tablename__ = "labels"
    __table_args__ = (
        Index("ix_labels_result_created", "result_id", "created_at"),
        Index("ix_labels_agent_created", "agent_id", "created_at"),
        Index("ix_labels_run", "run_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    result_id: Mapped[str] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(36))
    suite_id: Mapped[str | None] = mapped_column(String(64))
    check_index: Mapped[int | None] = mapped_column(Integer)
    judged_check: Mapped[int | None] = mapped_column(Integer)
    check_type: Mapped[str | None] = mapped_column(String(100))
    criterion: Mapped[str | None] = mapped_column(Text)
    judge_passed: Mapped[bool | None] = mapped_column(Boolean)
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
