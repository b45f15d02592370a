"""How fast is an agent's history at 1,000,000 results? Prints p50/p99 of the listing query.

Creates a scratch PostgreSQL database on 127.0.0.1:5432 (user postgres), migrates it, loads the
results with COPY, times ``results_repo.list_agent_results`` (first pages and deep pages) and the
run-status poll, prints the query plan, and drops the database. Not part of the test suite.

    .venv/bin/python bench/store_agent_results.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from aifactory.store import migrate, results_repo, runs_repo
from aifactory.store.database import Database

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
RUNS = 40


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def load(dbname: str, rows: int, n_agents: int) -> tuple[list[str], list[str]]:
    """COPY ``rows`` finished results over agents and runs; return the agent and run ids."""
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=dbname)
    agents = [f"agent-{i}" for i in range(n_agents)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        runs: list[tuple[str, str]] = []
        for agent in agents:
            await conn.execute(
                "INSERT INTO agents (id, name, current_version, created_at, updated_at)"
                " VALUES ($1, $1, 1, $2, $2)",
                agent,
                start,
            )
            await conn.execute(
                "INSERT INTO agent_versions (agent_id, version, kind, config, max_concurrency,"
                " state, created_at) VALUES ($1, 1, 'scripted', '{}', 8, 'active', $2)",
                agent,
                start,
            )
            runs.extend((str(uuid.uuid4()), agent) for _ in range(RUNS // n_agents))
        per_run = rows // len(runs)
        for run_id, agent in runs:
            await conn.execute(
                "INSERT INTO runs (id, agent_id, agent_version, status, total, completed, passed,"
                " failed, errored, cancelled, repeat, metadata, created_at) VALUES"
                " ($1, $2, 1, 'completed', $3, $3, $3, 0, 0, 0, 1, '{}', $4)",
                run_id,
                agent,
                per_run,
                start,
            )
        case = json.dumps({"name": "case", "input": "question", "tags": ["billing"]})
        checks = json.dumps([{"type": "contains", "status": "passed", "passed": True, "score": 1}])
        columns = [
            "id", "run_id", "agent_id", "agent_version", "case_index", "repeat_index",
            "test_case", "tags", "status", "passed", "score", "feedback", "output", "checks",
            "tool_calls", "latency_ms", "cached", "attempts", "created_at", "finished_at",
        ]  # fmt: skip
        loaded = 0
        for n, (run_id, agent) in enumerate(runs):
            base = start + timedelta(hours=n)
            records = [
                (
                    str(uuid.uuid4()), run_id, agent, 1, i, 0, case, ",billing,", "passed", True,
                    1.0, "", "ok", checks, "[]", 12.5, False, 1, base,
                    base + timedelta(milliseconds=i),
                )
                for i in range(per_run)
            ]  # fmt: skip
            await conn.copy_records_to_table("results", records=records, columns=columns)
            loaded += len(records)
            print(f"\rloaded {loaded:,} rows", end="", flush=True)
        print()
        await conn.execute(
            "INSERT INTO agent_result_counts (agent_id, shard, n) SELECT agent_id, 0, count(*)"
            " FROM results WHERE finished_at IS NOT NULL GROUP BY agent_id"
        )
        await conn.execute("ANALYZE")
        return agents, [r for r, _ in runs]
    finally:
        await conn.close()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms"


async def timed(label: str, repeats: int, call) -> None:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<48} {percentiles(samples)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=1, help="agents sharing the rows")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    args = parser.parse_args()

    dbname = f"aifactory_bench_{os.getpid()}"
    await admin(f'CREATE DATABASE "{dbname}"')
    url = f"postgresql+asyncpg://{USER}@{HOST}:{PORT}/{dbname}"
    db = Database.from_url(url)
    try:
        await migrate.upgrade(url)
        started = time.perf_counter()
        agents, runs = await load(dbname, args.rows, args.agents)
        print(
            f"load: {time.perf_counter() - started:.1f} s; {len(agents)} agents, {len(runs)} runs"
        )
        agent = agents[0]

        async def page(limit: int, offset: int) -> None:
            async with db.session() as session:
                result = await results_repo.list_agent_results(
                    session, agent, limit=limit, offset=offset
                )
                assert len(result.items) == limit

        async def poll() -> None:
            async with db.session() as session:
                await runs_repo.get_run(session, runs[0])
                await results_repo.list_run_results(session, runs[0], limit=10)

        await timed("agent results, limit 10 (default page)", args.repeats, lambda: page(10, 0))
        await timed("agent results, limit 100", args.repeats, lambda: page(100, 0))
        await timed(
            "agent results, limit 10, offset 10,000", args.repeats, lambda: page(10, 10_000)
        )
        await timed("run status poll (run row + first 10 results)", args.repeats, poll)

        async with db.session() as session:
            plan = await session.execute(
                text(
                    "EXPLAIN ANALYZE SELECT id FROM results WHERE agent_id = :a"
                    " AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 10"
                ),
                {"a": agent},
            )
            print("\n".join(row[0] for row in plan))
    finally:
        await db.dispose()
        if not args.keep:
            await admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
