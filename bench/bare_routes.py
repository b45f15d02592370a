"""The seed routes' twins: a bare FastAPI + SQLAlchemy app doing each route's statements, no more.

``bench/route_floor.py`` serves this next to ``aifactory serve`` on the same database (the
service's schema, made by its migrations; ``BARE_DATABASE_URL``) and compares the server CPU each
request costs. Each twin is what a competent engineer would write with nothing of ours: SQLAlchemy
Core statements run in an ``AsyncSession`` (on SQLite through the SQLAlchemy documentation's recipe
that takes ``BEGIN`` from the driver, writes ``BEGIN IMMEDIATE`` one at a time; on PostgreSQL reads
in autocommit), pydantic models as ``response_model``, Starlette's ``GZipMiddleware`` (as ours,
from 1 KiB). It has no authentication, no request ids, no rate limits, no request metrics and no
logging; ``/api/v1/metrics`` answers zeros of the same shape for what it does not count.

The twins are pinned to the statements each route issued when the floor was set (the figure the
goal names), and keep them whatever the routes do later:

- ``GET /health``, ``GET /ping``: none.
- ``GET /api/v1/test/status/{run_id}``: (``BEGIN``) the run by id; its finished results (a page of
  50); the labels of those results; the labels joined to results for the run's verdicts.
- ``GET /api/v1/agents/{agent_id}/results``: (``BEGIN``) the agent by id; its finished results,
  newest first (a page of 10); the labels of those results; the sum of its result counts.
- ``GET /api/v1/metrics``: (``BEGIN``) runs counted by status; the sum of the agents' result
  counts.
- ``POST /api/v1/test/run``: (``BEGIN``) the agent joined to its current version; the scripted
  agent answers (after its ``latency_ms``) and four kinds of check grade it; (``BEGIN IMMEDIATE``)
  insert the run, insert the result, add one to one of the agent's ``agent_result_counts`` rows
  (an upsert).
- ``POST /api/v1/test/batch``: (``BEGIN``) the API key by the hash of the bearer token (a lookup,
  not a check); (``BEGIN IMMEDIATE``) the agent joined to its version; the agent; insert the run;
  insert its pending results (one ``executemany``); set the run's total.

.venv/bin/uvicorn bare_routes:app --app-dir bench --workers 1   # BARE_DATABASE_URL=...
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Response
from fastapi.middleware.gzip import GZipMiddleware
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

VERSION = "0.1.0"
FINISHED = ("passed", "failed", "error")
JSONType = JSON().with_variant(JSONB(), "postgresql")
metadata = MetaData()


agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200)),
    Column("current_version", Integer),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
)
agent_result_counts = Table(
    "agent_result_counts",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("n", Integer),
)
agent_versions = Table(
    "agent_versions",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(200)),
    Column("kind", String(20)),
    Column("config", JSONType),
    Column("max_concurrency", Integer),
    Column("rate_limit_per_minute", Integer),
    Column("state", String(20)),
    Column("parent_version", Integer),
    Column("rationale", Text),
    Column("created_at", DateTime(timezone=True)),
)
runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agent_id", String(64)),
    Column("agent_version", Integer),
    Column("suite_id", String(64)),
    Column("suite_version", Integer),
    Column("name", String(200)),
    Column("status", String(20)),
    *(Column(name, Integer) for name in ("total", "completed", "passed", "failed", "errored")),
    Column("cancelled", Integer),
    Column("repeat", Integer),
    Column("concurrency", Integer),
    Column("metadata", JSONType),
    Column("summary", JSONType),
    Column("error", Text),
    Column("api_key_id", String(36)),
    *(Column(name, DateTime(timezone=True)) for name in ("created_at", "started_at")),
    Column("finished_at", DateTime(timezone=True)),
)
results = Table(
    "results",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36)),
    Column("agent_id", String(64)),
    Column("agent_version", Integer),
    Column("case_index", Integer),
    Column("repeat_index", Integer),
    Column("test_case", JSONType),
    Column("tags", Text),
    Column("status", String(20)),
    Column("passed", Boolean),
    Column("score", Float),
    Column("feedback", Text),
    Column("output", Text),
    Column("checks", JSONType),
    Column("tool_calls", JSONType),
    Column("latency_ms", Float),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cost_usd", Float),
    Column("judge_input_tokens", Integer),
    Column("judge_output_tokens", Integer),
    Column("judge_cost_usd", Float),
    Column("error", Text),
    Column("cached", Boolean),
    Column("transcript", JSONType),
    Column("turns", Integer),
    Column("stop_reason", String(20)),
    Column("simulator_input_tokens", Integer),
    Column("simulator_output_tokens", Integer),
    Column("simulator_cost_usd", Float),
    Column("judge_uncertain", Boolean),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("attempts", Integer),
    Column("created_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)
labels = Table(
    "labels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("result_id", String(36)),
    Column("run_id", String(36)),
    Column("check_index", Integer),
    Column("passed", Boolean),
    Column("score", Float),
    Column("comment", Text),
    Column("reviewer", String(200)),
    Column("api_key_id", String(36)),
    Column("created_at", DateTime(timezone=True)),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200)),
    Column("prefix", String(16)),
    Column("key_hash", String(64)),
    Column("scopes", String(100)),
    Column("created_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# The columns each statement reads: what the service's queries read.
RESULT_COLUMNS = [
    c for c in results.c if c.name not in {"tags", "judge_uncertain", "lease_owner"}
    and c.name not in {"lease_expires_at", "attempts", "created_at"}
]  # fmt: skip
LABEL_COLUMNS = [c for c in labels.c if c.name != "run_id"]
RUN_COLUMNS = list(runs.c)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


class CheckSpec(BaseModel):
    """A check as sent: its type and its own arguments (``value``, ``pattern``, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str
    weight: float = 1.0
    negate: bool = False


class CaseSpec(BaseModel):
    name: str
    input: str
    expected: str | None = None
    checks: list[CheckSpec] = []
    vars: dict[str, Any] = {}
    tags: list[str] = []
    threshold: float | None = None
    metadata: dict[str, Any] = {}


class CheckOut(BaseModel):
    type: str
    status: str
    passed: bool
    score: float
    weight: float
    reason: str
    details: dict[str, Any] | None = None
    usage: Usage | None = None


class Review(BaseModel):
    labels: int
    passed: bool | None


class ResultOut(BaseModel):
    id: str
    run_id: str
    agent_id: str
    agent_version: int
    case_index: int
    repeat_index: int
    test_case: CaseSpec
    status: str
    passed: bool | None
    score: float | None
    feedback: str | None
    output: str | None
    checks: list[CheckOut]
    tool_calls: list[dict[str, Any]]
    latency_ms: float | None
    usage: Usage
    judge_usage: Usage
    error: str | None
    cached: bool
    created_at: datetime | None
    review: Review | None
    transcript: list[dict[str, Any]] | None
    turns: int | None
    stop_reason: str | None
    simulator_usage: Usage


class RunStatus(BaseModel):
    run_id: str
    agent_id: str
    agent_version: int
    suite_id: str | None
    name: str | None
    status: str
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
    results: list[ResultOut]


class ResultsPage(BaseModel):
    items: list[ResultOut]
    total: int
    limit: int
    offset: int


class Timings(BaseModel):
    avg: float
    p50: float
    p95: float
    p99: float


class RunCounts(BaseModel):
    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class DatabaseInfo(BaseModel):
    backend: str
    pool_size: int
    checked_out: int


class Metrics(BaseModel):
    version: str
    uptime_s: float
    requests_total: int
    errors_total: int
    error_rate: float
    response_time_ms: Timings
    runs: RunCounts
    cases_executed_total: int
    database: DatabaseInfo
    queue: dict[str, str]


class Health(BaseModel):
    status: str
    version: str
    database: str
    queue: dict[str, str]
    uptime_s: float


class RunIn(BaseModel):
    agent_id: str
    test_case: CaseSpec


class BatchIn(BaseModel):
    agent_id: str
    test_cases: list[CaseSpec]
    name: str | None = None


class BatchAccepted(BaseModel):
    run_id: str
    status: str
    total: int
    status_url: str


def _engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=10, max_overflow=10)
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours, below
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('begin', 'DEFERRED')}")

    return engine


engine = _engine(os.environ.get("BARE_DATABASE_URL", "sqlite+aiosqlite://"))
SQLITE = engine.dialect.name == "sqlite"
UPSERT: Any = sqlite if SQLITE else postgresql
read_engine = engine if SQLITE else engine.execution_options(isolation_level="AUTOCOMMIT")
write_engine = engine.execution_options(begin="IMMEDIATE") if SQLITE else engine
write_lock = asyncio.Lock()  # SQLite has one writer at a time: queue here, not in busy waits
STARTED = time.monotonic()


@contextlib.asynccontextmanager
async def writing() -> AsyncIterator[AsyncSession]:
    """A session in a write transaction: committed at the end, rolled back on an error."""
    async with (
        write_lock if SQLITE else contextlib.nullcontext(),
        AsyncSession(write_engine) as session,
        session.begin(),
    ):
        yield session


app = FastAPI()
app.add_middleware(GZipMiddleware, minimum_size=1024)


@app.get("/health", response_model=Health)
async def health() -> Health:
    return Health(
        status="ok",
        version=VERSION,
        database="ok",
        queue={"backend": "none"},
        uptime_s=round(time.monotonic() - STARTED, 3),
    )


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"message": "pong"}


def _result(row: Any, found: list[Any]) -> ResultOut:
    review = Review(labels=len(found), passed=found[-1].passed) if found else None
    return ResultOut(
        id=row.id,
        run_id=row.run_id,
        agent_id=row.agent_id,
        agent_version=row.agent_version,
        case_index=row.case_index,
        repeat_index=row.repeat_index,
        test_case=row.test_case,
        status=row.status,
        passed=row.passed,
        score=row.score,
        feedback=row.feedback,
        output=row.output,
        checks=row.checks or [],
        tool_calls=row.tool_calls or [],
        latency_ms=row.latency_ms,
        usage=Usage(
            input_tokens=row.input_tokens or 0,
            output_tokens=row.output_tokens or 0,
            cost_usd=row.cost_usd,
        ),
        judge_usage=Usage(
            input_tokens=row.judge_input_tokens or 0,
            output_tokens=row.judge_output_tokens or 0,
            cost_usd=row.judge_cost_usd,
        ),
        error=row.error,
        cached=row.cached,
        created_at=row.finished_at,
        review=review,
        transcript=row.transcript,
        turns=row.turns,
        stop_reason=row.stop_reason,
        simulator_usage=Usage(
            input_tokens=row.simulator_input_tokens or 0,
            output_tokens=row.simulator_output_tokens or 0,
            cost_usd=row.simulator_cost_usd,
        ),
    )


async def _with_labels(session: AsyncSession, rows: list[Any]) -> list[ResultOut]:
    """The results as answered, each with the labels reviewers gave it."""
    found: dict[str, list[Any]] = {row.id: [] for row in rows}
    if rows:
        query = (
            select(*LABEL_COLUMNS)
            .where(labels.c.result_id.in_(list(found)))
            .order_by(labels.c.created_at, labels.c.id)
        )
        for label in await session.execute(query):
            found[label.result_id].append(label)
    return [_result(row, found[row.id]) for row in rows]


@app.get("/api/v1/test/status/{run_id}", response_model=RunStatus)
async def run_status(run_id: str, results_limit: int = 50, results_offset: int = 0) -> RunStatus:
    async with AsyncSession(read_engine) as session:
        run = (await session.execute(select(*RUN_COLUMNS).where(runs.c.id == run_id))).first()
        if run is None:
            raise HTTPException(404, "No such run.")
        query = (
            select(*RESULT_COLUMNS)
            .where(results.c.run_id == run_id, results.c.status.in_(FINISHED))
            .order_by(results.c.case_index, results.c.repeat_index)
            .limit(results_limit)
            .offset(results_offset)
        )
        rows = list(await session.execute(query))
        page = await _with_labels(session, rows)
        summary = run.summary
        if rows:
            verdicts = (
                select(*LABEL_COLUMNS, results.c.passed.label("judge_passed"))
                .join(results, results.c.id == labels.c.result_id)
                .where(labels.c.run_id == run_id, labels.c.check_index.is_(None))
            )
            votes = list(await session.execute(verdicts))
            if votes and summary is not None:
                agreed = sum(vote.passed == vote.judge_passed for vote in votes)
                summary = {**summary, "review": {"labels": len(votes), "agreed": agreed}}
    return RunStatus(
        run_id=run.id,
        agent_id=run.agent_id,
        agent_version=run.agent_version,
        suite_id=run.suite_id,
        name=run.name,
        status=run.status,
        total=run.total,
        completed=run.completed,
        remaining=run.total - run.completed,
        passed=run.passed,
        failed=run.failed,
        errored=run.errored,
        progress=run.completed / run.total if run.total else 1.0,
        summary=summary,
        error=run.error,
        metadata=run.metadata or {},
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        results=page,
    )


@app.get("/api/v1/agents/{agent_id}/results", response_model=ResultsPage)
async def agent_results(agent_id: str, limit: int = 10, offset: int = 0) -> ResultsPage:
    async with AsyncSession(read_engine) as session:
        agent = (await session.execute(select(agents).where(agents.c.id == agent_id))).first()
        if agent is None:
            raise HTTPException(404, "No such agent.")
        query = (
            select(*RESULT_COLUMNS)
            .where(results.c.agent_id == agent_id, results.c.finished_at.is_not(None))
            .order_by(results.c.finished_at.desc(), results.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = await _with_labels(session, list(await session.execute(query)))
        total = (
            await session.execute(
                select(func.coalesce(func.sum(agent_result_counts.c.n), 0)).where(
                    agent_result_counts.c.agent_id == agent_id
                )
            )
        ).scalar_one()
    return ResultsPage(items=items, total=total, limit=limit, offset=offset)


@app.get("/api/v1/metrics", response_model=Metrics)
async def metrics() -> Metrics:
    async with AsyncSession(read_engine) as session:
        by_status = select(runs.c.status, func.count()).group_by(runs.c.status)
        counts: dict[str, int] = dict((await session.execute(by_status)).tuples().all())
        cases = (await session.execute(select(func.sum(agent_result_counts.c.n)))).scalar()
    pool: Any = engine.pool
    return Metrics(
        version=VERSION,
        uptime_s=round(time.monotonic() - STARTED, 3),
        requests_total=0,
        errors_total=0,
        error_rate=0.0,
        response_time_ms=Timings(avg=0.0, p50=0.0, p95=0.0, p99=0.0),
        runs=RunCounts(**counts),
        cases_executed_total=cases or 0,
        database=DatabaseInfo(
            backend=engine.dialect.name, pool_size=pool.size(), checked_out=pool.checkedout()
        ),
        queue={"backend": "none"},
    )


async def _agent_version(session: AsyncSession, agent_id: str) -> Any:
    query = (
        select(agents, agent_versions)
        .join(
            agent_versions,
            (agent_versions.c.agent_id == agents.c.id)
            & (agent_versions.c.version == agents.c.current_version),
        )
        .where(agents.c.id == agent_id, agents.c.deleted_at.is_(None))
    )
    found = (await session.execute(query)).first()
    if found is None:
        raise HTTPException(404, "No such agent.")
    return found


def _answer(config: dict[str, Any], text: str) -> str:
    """The scripted agent: the output of the first rule whose ``match`` is in ``text``."""
    for rule in config.get("responses", []):
        if rule.get("turn", 1) != 1:
            continue
        if rule.get("regex"):
            if re.search(rule["match"], text, re.IGNORECASE):
                return str(rule["output"])
        elif rule["match"].casefold() in text.casefold():
            return str(rule["output"])
    return str(config.get("default", ""))


def _grade(check: CheckSpec, output: str) -> CheckOut:
    """The four kinds of check the mix's cases use."""
    args = check.model_extra or {}
    details = None
    if check.type in ("contains", "icontains"):
        value = str(args["value"])
        at = (output.casefold() if check.type == "icontains" else output).find(
            value.casefold() if check.type == "icontains" else value
        )
        ok = at >= 0
        reason = (
            f"output contains {value!r} at {at}" if ok else f"output does not contain {value!r}"
        )
    elif check.type == "regex":
        found = re.search(str(args["pattern"]), output)
        ok = found is not None
        reason = f"matched {args['pattern']!r} at {found.start()}" if found else "no match"
        details = {"match": found.group(0), "start": found.start()} if found else None
    elif check.type == "json_valid":
        try:
            json.loads(output)
            ok, reason = True, "output is valid JSON"
        except ValueError:
            ok, reason = False, "output is not valid JSON"
    else:
        raise HTTPException(422, f"Unknown check {check.type!r}.")
    ok = ok != check.negate
    status = "passed" if ok else "failed"
    return CheckOut(
        type=check.type,
        status=status,
        passed=ok,
        score=float(ok),
        weight=check.weight,
        reason=reason,
        details=details,
    )


@app.post("/api/v1/test/run", response_model=ResultOut)
async def run_one(body: RunIn) -> ResultOut:
    async with AsyncSession(read_engine) as session:
        agent = await _agent_version(session, body.agent_id)
    case = body.test_case
    started = time.perf_counter()
    await asyncio.sleep(agent.config.get("latency_ms", 0) / 1000)
    output = _answer(agent.config, case.input)
    latency_ms = (time.perf_counter() - started) * 1000
    checks = [_grade(check, output) for check in case.checks]
    weight = sum(c.weight for c in checks) or 1.0
    score = sum(c.score * c.weight for c in checks) / weight if checks else 1.0
    passed = all(c.passed for c in checks)
    feedback = "; ".join(f"{c.type}: {c.reason}" for c in checks if not c.passed)
    now = datetime.now(UTC)
    run_id, result_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with writing() as session:
        await session.execute(
            insert(runs).values(
                id=run_id,
                agent_id=agent.id,
                agent_version=agent.version,
                suite_id=None,
                suite_version=None,
                name=None,
                status="completed",
                total=1,
                completed=1,
                passed=int(passed),
                failed=int(not passed),
                errored=0,
                cancelled=0,
                repeat=1,
                concurrency=None,
                metadata={},
                api_key_id=None,
                created_at=now,
                started_at=now,
                finished_at=now,
            )
        )
        row = {
            "id": result_id,
            "run_id": run_id,
            "agent_id": agent.id,
            "agent_version": agent.version,
            "case_index": 0,
            "repeat_index": 0,
            "test_case": case.model_dump(exclude_defaults=True),
            "tags": "".join(f",{tag}" for tag in case.tags) + ("," if case.tags else ""),
            "status": "passed" if passed else "failed",
            "passed": passed,
            "score": score,
            "feedback": feedback,
            "output": output,
            "checks": [c.model_dump(exclude_none=True) for c in checks],
            "tool_calls": [],
            "latency_ms": latency_ms,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "judge_input_tokens": 0,
            "judge_output_tokens": 0,
            "judge_cost_usd": None,
            "error": None,
            "cached": False,
            "transcript": None,
            "turns": None,
            "stop_reason": None,
            "simulator_input_tokens": None,
            "simulator_output_tokens": None,
            "simulator_cost_usd": None,
            "judge_uncertain": False,
            "lease_owner": None,
            "lease_expires_at": None,
            "attempts": 1,
            "created_at": now,
            "finished_at": now,
        }
        await session.execute(insert(results).values(**row))
        add = UPSERT.insert(agent_result_counts).values(
            agent_id=agent.id,
            shard=random.randrange(16),
            n=1,
        )
        await session.execute(
            add.on_conflict_do_update(
                index_elements=["agent_id", "shard"],
                set_={"n": agent_result_counts.c.n + add.excluded.n},
            )
        )
    return ResultOut(
        **{**row, "created_at": now, "checks": checks, "test_case": case},
        usage=Usage(cost_usd=0.0),
        judge_usage=Usage(),
        review=None,
        simulator_usage=Usage(),
    )


@app.post("/api/v1/test/batch", status_code=202, response_model=BatchAccepted)
async def submit_batch(
    body: BatchIn, response: Response, authorization: Annotated[str, Header()] = ""
) -> BatchAccepted:
    token = authorization.removeprefix("Bearer ").strip()
    key_hash = hashlib.sha256(token.encode()).hexdigest()
    async with AsyncSession(read_engine) as session:
        key = (
            await session.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))
        ).first()
    now = datetime.now(UTC)
    run_id = str(uuid.uuid4())
    async with writing() as session:
        found = await _agent_version(session, body.agent_id)
        agent = (await session.execute(select(agents).where(agents.c.id == found.id))).first()
        assert agent is not None
        await session.execute(
            insert(runs).values(
                id=run_id,
                agent_id=agent.id,
                agent_version=found.version,
                suite_id=None,
                suite_version=None,
                name=body.name,
                status="queued",
                total=0,
                completed=0,
                passed=0,
                failed=0,
                errored=0,
                cancelled=0,
                repeat=1,
                concurrency=None,
                metadata={},
                error=None,
                api_key_id=key.id if key is not None else None,
                created_at=now,
                started_at=None,
                finished_at=None,
            )
        )
        pending = [
            {
                "id": str(uuid.uuid4()),
                "run_id": run_id,
                "agent_id": agent.id,
                "agent_version": found.version,
                "case_index": index,
                "repeat_index": 0,
                "test_case": case.model_dump(exclude_defaults=True),
                "tags": "".join(f",{tag}" for tag in case.tags) + ("," if case.tags else ""),
                "status": "pending",
                "cached": False,
                "judge_uncertain": False,
                "attempts": 0,
                "created_at": now,
            }
            for index, case in enumerate(body.test_cases)
        ]
        await session.execute(insert(results), pending)
        await session.execute(update(runs).where(runs.c.id == run_id).values(total=len(pending)))
    status_url = f"/api/v1/test/status/{run_id}"
    response.headers["Location"] = status_url
    return BatchAccepted(run_id=run_id, status="queued", total=len(pending), status_url=status_url)
