"""How long does ``POST /api/v1/test/batch`` take to answer 202 for 1,000 and 10,000 cases?

Starts ``aifactory serve --workers 2`` on a fresh SQLite file (``--postgres`` for a scratch
PostgreSQL database), registers a scripted agent, then submits ``--small-runs`` batches of 1,000
inline cases and ``--large-runs`` of 10,000 one after another, timing each request from send to
the 202 (the run and one pending row per case are stored before the answer). Each run is
cancelled right after its 202 so earlier batches do not run underneath later submissions
(``--keep-running`` lets them run). Prints p50/p95/max next to the targets (1,000 cases: p95 at
most 100 ms; 10,000 cases: at most 1 s). Not part of the test suite.

    .venv/bin/python bench/api_batch.py [--small-runs 20] [--large-runs 5] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
from _server import Server, aifactory_server

AGENT: dict[str, Any] = {
    "id": "batch-bench-bot",
    "kind": "scripted",
    "config": {"default": "ok, 30 days", "latency_ms": 5},
    "max_concurrency": 8,
}
SMALL_TARGET_P95_MS, LARGE_TARGET_MS = 100.0, 1000.0


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"case {i}",
            "input": f"Can I get a refund after {i % 90} days?",
            "expected": "Refunds are possible within 30 days.",
            "tags": ["billing"],
            "checks": [{"type": "contains", "value": "30 days"}],
        }
        for i in range(n)
    ]


async def submit(
    session: aiohttp.ClientSession, server: Server, body: bytes, cancel: bool
) -> float:
    """One submission; the milliseconds until its 202 (raises on anything else)."""
    started = time.perf_counter()
    async with session.post(
        f"{server.base_url}/api/v1/test/batch",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as response:
        answer = await response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 202:
            raise RuntimeError(f"The batch was refused: HTTP {response.status} {answer[:300]!r}")
    if cancel:
        run_id = json.loads(answer)["run_id"]
        async with session.post(f"{server.base_url}/api/v1/runs/{run_id}/cancel") as response:
            await response.read()
    return elapsed


def summary(label: str, samples: list[float], target: str) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{label:<18} n={len(ordered):<3} p50 {statistics.median(ordered):7.1f} ms"
        f"   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms   ({target})"
    )


async def bench(server: Server, args: argparse.Namespace) -> None:
    async with aiohttp.ClientSession(
        headers=server.headers, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        async with session.post(f"{server.base_url}/api/v1/agents", json=AGENT) as response:
            if response.status != 201:
                raise RuntimeError(f"Could not create the agent: {await response.text()}")
        results: dict[int, list[float]] = {}
        for size, runs in ((1_000, args.small_runs), (10_000, args.large_runs)):
            samples = []
            for n in range(runs + 1):  # the first is a warm-up
                body = json.dumps(
                    {"agent_id": AGENT["id"], "test_cases": cases(size), "name": f"bench {n}"}
                ).encode()
                elapsed = await submit(session, server, body, cancel=not args.keep_running)
                if n:
                    samples.append(elapsed)
            results[size] = samples
            print(f"{size:,} cases: body {len(body) / 1024:,.0f} KiB; ms: " + ", ".join(
                f"{s:.0f}" for s in samples
            ))  # fmt: skip
    small, large = results[1_000], results[10_000]
    print()
    print(summary("1,000 cases", small, f"target p95 <= {SMALL_TARGET_P95_MS:.0f} ms"))
    print(summary("10,000 cases", large, f"target <= {LARGE_TARGET_MS:.0f} ms"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-runs", type=int, default=20, help="1,000-case submissions")
    parser.add_argument("--large-runs", type=int, default=5, help="10,000-case submissions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="scratch PostgreSQL database")
    parser.add_argument(
        "--keep-running", action="store_true", help="let the runs execute instead of cancelling"
    )
    args = parser.parse_args()
    with aifactory_server(workers=args.workers, postgres=args.postgres) as server:
        asyncio.run(bench(server, args))


if __name__ == "__main__":
    main()
