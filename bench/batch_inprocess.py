"""How fast does the embedded queue run a batch? Prints cases/s for a 10 ms scripted agent.

Creates a scratch SQLite file (or uses ``--database-url``), stores a scripted agent answering in
``--latency-ms`` and a run of ``--cases`` cases, then times an :class:`InProcessQueue` from
enqueue until the run is completed with its summary. The figure to compare distributed workers
against later. Not part of the test suite.

    .venv/bin/python bench/batch_inprocess.py [--cases 10000] [--latency-ms 10] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from aifactory.bootstrap import runner_factory
from aifactory.domain.models import AgentSpec, CheckSpec, TestCase
from aifactory.domain.runs import NewRun
from aifactory.queue.inprocess import InProcessQueue
from aifactory.settings import load_settings
from aifactory.store import agents_repo, migrate, runs_repo
from aifactory.store.database import Database


def cases(n: int) -> list[TestCase]:
    return [
        TestCase(
            name=f"case {i}", input=f"question {i}", checks=[CheckSpec(type="contains", value="ok")]
        )
        for i in range(n)
    ]


async def bench(url: str, n: int, latency_ms: float, concurrency: int) -> None:
    await migrate.upgrade(url)
    db = Database.from_url(url)
    settings = load_settings({"DATABASE_URL": url})
    spec = AgentSpec(
        id="bench-bot",
        kind="scripted",
        config={"default": "ok", "latency_ms": latency_ms},
        max_concurrency=concurrency,
        rate_limit_per_minute=None,
    )
    async with db.write() as session:
        await agents_repo.create_agent(session, spec)
    started = time.perf_counter()
    async with db.write() as session:
        run = await runs_repo.create_run_with_pending_results(
            session,
            NewRun(agent_id="bench-bot", agent_version=1, concurrency=concurrency),
            cases(n),
        )
    stored = time.perf_counter() - started

    async with runner_factory(settings) as parts:
        queue = InProcessQueue(db, parts, settings, concurrency=concurrency)
        await queue.start()
        started = time.perf_counter()
        await queue.enqueue(run.id, run.total)
        await queue.run_until_idle(timeout_s=3600)
        elapsed = time.perf_counter() - started
        await queue.stop(grace_s=0)
    async with db.session() as session:
        done = await runs_repo.get_run(session, run.id)
    await db.dispose()

    ideal = concurrency / (latency_ms / 1000) if latency_ms else float("inf")
    print(f"backend           {db.backend}")
    print(f"cases             {n} (stored in {stored:.2f} s)")
    print(f"agent latency     {latency_ms:g} ms, concurrency {concurrency} (ideal {ideal:,.0f}/s)")
    print(f"status            {done.status}, completed {done.completed}, passed {done.passed}")
    print(f"elapsed           {elapsed:.2f} s")
    print(f"throughput        {n / elapsed:,.0f} cases/s")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database-url", default=None, help="default: a scratch SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(bench(url, args.cases, args.latency_ms, args.concurrency))


if __name__ == "__main__":
    main()
