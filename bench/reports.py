"""How fast are reports and comparisons of 10,000-case runs? Prints render times.

Builds two finished 10,000-case runs of one agent (two versions, answers differing on some cases)
directly through the store in a scratch SQLite database, then times, through ``InsightService``
exactly as the API calls it:

- the run report in every format (html lists every case, so it reads every result, as json does),
- the comparison of the two runs (goal: under 2 s),
- the agent's trend over both runs.

    .venv/bin/python bench/reports.py [--cases 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from aifactory.domain.models import AgentSpec, CheckSpec, TestCase
from aifactory.domain.runs import NewRun
from aifactory.queue.summaries import store_summary
from aifactory.service.insights import InsightService
from aifactory.store import agents_repo, migrate, runs_repo
from aifactory.store.database import Database
from aifactory.store.tables import Result, Run, utcnow

TAGS = ["billing", "refunds", "shipping", "account", "safety"]


def cases(n: int) -> list[TestCase]:
    return [
        TestCase(
            name=f"case {i}",
            input=f"Question number {i}: can I get a refund after {i % 60} days?",
            checks=[
                CheckSpec(type="contains", value="30 days"),
                CheckSpec(type="llm_rubric", rubric="Politely states the policy"),
            ],
            tags=[TAGS[i % len(TAGS)]],
        )
        for i in range(n)
    ]


async def seed_run(db: Database, n: int, version: int, fail_rate: float, seed: int) -> str:
    """A finished run of ``n`` cases whose results are written in bulk (no engine involved)."""
    rng = random.Random(seed)
    async with db.write() as session:
        record = await runs_repo.create_run_with_pending_results(
            session,
            NewRun(agent_id="bench-bot", agent_version=version, name=f"v{version}"),
            cases(n),
        )
    table = cast(Table, Result.__table__)
    rows: list[dict[str, Any]] = []
    passed = failed = errored = 0
    now = utcnow()
    for index in range(n):
        draw = rng.random()
        status = "passed" if draw >= fail_rate else ("error" if draw < 0.01 else "failed")
        passed += status == "passed"
        failed += status == "failed"
        errored += status == "error"
        score = 1.0 if status == "passed" else round(rng.random() * 0.5, 3)
        rows.append(
            {
                "b_case_index": index,
                "status": status,
                "passed": status == "passed",
                "score": score,
                "feedback": "" if status == "passed" else "did not contain '30 days'",
                "output": f"<b>Answer</b> {index}: refunds within {index % 60} days. " * 3,
                "checks": [
                    {
                        "type": "contains",
                        "status": status,
                        "passed": status == "passed",
                        "score": score,
                        "reason": "expected '30 days'",
                    }
                ],
                "latency_ms": rng.lognormvariate(6, 0.5),
                "input_tokens": 50,
                "output_tokens": 30,
                "cost_usd": 0.0001,
                "error": "agent timed out after 60 s" if status == "error" else None,
                "finished_at": now,
            }
        )
    async with db.write() as session:
        await session.execute(
            update(table)
            .where(table.c.run_id == record.id, table.c.case_index == bindparam("b_case_index"))
            .values({k: bindparam(k) for k in rows[0] if k != "b_case_index"}),
            rows,
            execution_options={"synchronize_session": False},
        )
        await session.execute(
            update(Run)
            .where(Run.id == record.id)
            .values(
                status="completed",
                completed=n,
                passed=passed,
                failed=failed,
                errored=errored,
                started_at=now,
                finished_at=now,
            )
        )
    await store_summary(db, record.id)
    return record.id


def timed(label: str, seconds: list[float], goal: float | None = None) -> None:
    best, median = min(seconds), statistics.median(seconds)
    verdict = "" if goal is None else ("  ok" if median < goal else f"  OVER the {goal} s goal")
    print(f"{label:<40} median {median * 1000:8.1f} ms   best {best * 1000:8.1f} ms{verdict}")


async def main(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await migrate.upgrade(db.engine)
        async with db.write() as session:
            await agents_repo.create_agent(
                session, AgentSpec(id="bench-bot", kind="scripted", config={"default": "ok"})
            )
        started = time.perf_counter()
        base = await seed_run(db, n, 1, fail_rate=0.20, seed=1)
        head = await seed_run(db, n, 1, fail_rate=0.25, seed=2)
        print(f"seeded two {n:,}-case runs in {time.perf_counter() - started:.1f} s")
        insights = InsightService(db)
        for fmt in ("html", "markdown", "json", "junit", "csv"):
            times, size = [], 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                body, _ = await insights.report(base, fmt)
                times.append(time.perf_counter() - t0)
                size = len(body)
            timed(f"report {fmt} ({size / 1e6:.1f} MB)", times)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            comparison = await insights.compare(base, head)
            times.append(time.perf_counter() - t0)
        timed(f"compare ({comparison.pairs:,} pairs, {comparison.verdict})", times, 2.0)
        for fmt in ("markdown", "html"):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await insights.comparison_report(base, head, fmt)
                times.append(time.perf_counter() - t0)
            timed(f"compare + render {fmt}", times, 2.0)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await insights.trend("bench-bot")
            times.append(time.perf_counter() - t0)
        timed("agent trend (2 runs)", times)
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.repeat))
