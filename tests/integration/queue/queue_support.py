"""Helpers the queue tests share: agents, runs, and what the database says about a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from aifactory.domain.models import AgentSpec, CheckSpec, TestCase
from aifactory.domain.runs import NewRun, Run
from aifactory.settings import Settings, load_settings
from aifactory.store import agents_repo, runs_repo
from aifactory.store.database import Database


def queue_settings(**env: str) -> Settings:
    """Settings for queue tests: loopback agents allowed, no provider keys."""
    return load_settings(
        {"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1", "AIFACTORY_LEASE_S": "5", **env}
    )


async def add_agent(
    db: Database,
    agent_id: str,
    *,
    kind: str = "scripted",
    config: dict[str, Any] | None = None,
    max_concurrency: int = 8,
) -> None:
    """Store an agent (scripted, answering "ok", by default) with no rate limit."""
    spec = AgentSpec(
        id=agent_id,
        name=agent_id,
        kind=kind,
        config=config if config is not None else {"default": "ok"},
        max_concurrency=max_concurrency,
        rate_limit_per_minute=None,
    )
    async with db.write() as session:
        await agents_repo.create_agent(session, spec)


def make_cases(n: int, *, fail_every: int = 0, expect: str = "ok") -> list[TestCase]:
    """``n`` cases checking for ``expect``; every ``fail_every``-th one expects a missing word."""
    return [
        TestCase(
            name=f"case {i}",
            input=f"question {i}",
            checks=[
                CheckSpec(
                    type="contains",
                    value="absent-word" if fail_every and i % fail_every == 0 else expect,
                )
            ],
        )
        for i in range(n)
    ]


async def add_run(
    db: Database,
    agent_id: str,
    n: int,
    *,
    fail_every: int = 0,
    expect: str = "ok",
    concurrency: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Run:
    """Store a queued run of ``n`` cases with its pending rows."""
    async with db.write() as session:
        return await runs_repo.create_run_with_pending_results(
            session,
            NewRun(
                agent_id=agent_id,
                agent_version=1,
                concurrency=concurrency,
                metadata=metadata or {},
            ),
            make_cases(n, fail_every=fail_every, expect=expect),
        )


async def get_run(db: Database, run_id: str) -> Run:
    """The run as stored now."""
    async with db.session() as session:
        return await runs_repo.get_run(session, run_id)


async def row_counts(db: Database, run_id: str) -> dict[str, int]:
    """How many of the run's result rows are in each status."""
    async with db.session() as session:
        rows = await session.execute(
            text("SELECT status, COUNT(*) FROM results WHERE run_id = :r GROUP BY status"),
            {"r": run_id},
        )
        return {status: int(n) for status, n in rows}


async def duplicated_cases(db: Database, run_id: str) -> int:
    """Cases (case_index, repeat_index) with more than one row."""
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT case_index, repeat_index FROM results WHERE run_id = :r "
                "GROUP BY case_index, repeat_index HAVING COUNT(*) > 1"
            ),
            {"r": run_id},
        )
        return len(rows.all())


async def results_count(db: Database, agent_id: str) -> int:
    """The agent's count of recorded results (a double record would push it past the rows)."""
    async with db.session() as session:
        value = await session.execute(
            text("SELECT COALESCE(SUM(n), 0) FROM agent_result_counts WHERE agent_id = :a"),
            {"a": agent_id},
        )
        return int(value.scalar_one())


def assert_counters_match_rows(run: Run, counts: dict[str, int]) -> None:
    """The run's counters say what its rows say, and completed + remaining == total."""
    assert run.passed == counts.get("passed", 0)
    assert run.failed == counts.get("failed", 0)
    assert run.errored == counts.get("error", 0)
    assert run.cancelled == counts.get("cancelled", 0)
    assert run.completed == run.passed + run.failed + run.errored
    assert sum(counts.values()) == run.total
    assert "running" not in counts


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 60.0, what: str = "condition"
) -> float:
    """Poll ``check`` until it is true; returns the seconds it took.

    ``timeout_s`` only guards against a hang: a test waits on the state, never on the time.
    """
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"Timed out after {timeout_s:g} s waiting for {what}.")
        await asyncio.sleep(0.02)
    return time.monotonic() - started
