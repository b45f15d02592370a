"""The seed's request mix at 50 concurrent users: req/s, p50/p95/p99 and errors, real server.

Starts ``aifactory serve --workers 2`` on a fresh SQLite file (``--postgres`` for a scratch
PostgreSQL database) and registers ``mix-bot``, the demo agent's scripted answers with
``--agent-latency-ms`` of simulated latency (default 0: the figure is the service's cost, not an
agent's) and ``--agent-concurrency`` calls at once per process (default 64; the demo agent's 8
calls of 20 ms would cap every process at 400 agent calls a second), then runs
``--users`` asyncio users over one aiohttp session in this process (a separate process from the
server), each looping over the mix: ``GET /health``, ``GET /ping``, ``POST /api/v1/test/run``,
``POST /api/v1/test/batch`` (10 cases), ``GET /api/v1/test/status/{its run}``,
``GET /api/v1/agents/mix-bot/results``, ``GET /api/v1/metrics``. After a warm-up it
counts for ``--duration`` seconds and prints the figures next to the seed's (85 req/s, p95
800 ms, p99 2 s) and the target (25x the throughput, p99 at most 100 ms, no errors). Every
non-2xx answer and every failed request is an error. Not part of the test suite.

    .venv/bin/python bench/api_mix.py [--users 50] [--duration 30] [--postgres]
        [--agent-latency-ms 0] [--agent-concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from _server import Server, aifactory_server, machine_cpu_seconds, tree_cpu_seconds

from aifactory.demo import DEMO_AGENT

SEED_RPS, SEED_P95_MS, SEED_P99_MS = 85.0, 800.0, 2000.0
TARGET_FACTOR, TARGET_P99_MS = 25, 100.0
AGENT = "mix-bot"
CASES: list[dict[str, Any]] = [
    {"name": n, "input": i, "checks": [c]}
    for n, i, c in [
        ("refund", "Can I get a refund?", {"type": "contains", "value": "30 days"}),
        ("password", "I forgot my password", {"type": "icontains", "value": "reset"}),
        ("order", "Where is order #1234?", {"type": "json_valid"}),
        ("weather", "Weather tomorrow?", {"type": "regex", "pattern": "only help"}),
        ("refund words", "Refund window?", {"type": "contains", "value": "thirty"}),
    ]
]


@dataclass
class Tally:
    """Latencies (ms) per endpoint of the measured window, and what went wrong."""

    measuring: bool = False
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)

    def record(self, name: str, started: float, ok: bool, detail: str = "") -> None:
        if not self.measuring:
            return
        self.latencies[name].append((time.perf_counter() - started) * 1000)
        if not ok:
            self.errors[name] += 1
            if len(self.examples) < 5:
                self.examples.append(f"{name}: {detail}")


async def call(
    session: aiohttp.ClientSession,
    tally: Tally,
    name: str,
    method: str,
    url: str,
    json_body: Any = None,
) -> Any:
    """One request; records its latency and whether it answered 2xx; returns its JSON or None."""
    started = time.perf_counter()
    try:
        async with session.request(method, url, json=json_body) as response:
            body = await response.read()
            ok = 200 <= response.status < 300
            tally.record(name, started, ok, f"HTTP {response.status} {body[:200]!r}")
            if ok and response.content_type == "application/json":
                return json.loads(body)
            return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.record(name, started, False, repr(exc))
        return None


async def user(server: Server, session: aiohttp.ClientSession, tally: Tally, n: int) -> None:
    base = server.base_url
    batch = {"agent_id": AGENT, "test_cases": CASES + CASES, "name": f"mix user {n}"}
    case = CASES[n % len(CASES)]
    results_url = f"{base}/api/v1/agents/{AGENT}/results"
    while True:
        await call(session, tally, "GET /health", "GET", f"{base}/health")
        await call(session, tally, "GET /ping", "GET", f"{base}/ping")
        await call(
            session,
            tally,
            "POST /test/run",
            "POST",
            f"{base}/api/v1/test/run",
            {"agent_id": AGENT, "test_case": case},
        )
        accepted = await call(
            session, tally, "POST /test/batch (10)", "POST", f"{base}/api/v1/test/batch", batch
        )
        if accepted is not None:
            await call(
                session,
                tally,
                "GET /test/status",
                "GET",
                f"{base}/api/v1/test/status/{accepted['run_id']}",
            )
        await call(session, tally, "GET /agents/{id}/results", "GET", results_url)
        await call(session, tally, "GET /api/v1/metrics", "GET", f"{base}/api/v1/metrics")


def pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def mix_agent(latency_ms: int, concurrency: int) -> dict[str, Any]:
    """The demo agent's scripted answers under the id :data:`AGENT`."""
    config = {**DEMO_AGENT["config"], "latency_ms": latency_ms}
    return {**DEMO_AGENT, "id": AGENT, "config": config, "max_concurrency": concurrency}


async def drive(
    server: Server, users: int, warmup_s: float, duration_s: float, agent: dict[str, Any]
) -> None:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=server.headers
    ) as session:
        async with session.post(f"{server.base_url}/api/v1/agents", json=agent) as response:
            if response.status != 201:
                raise SystemExit(f"registering {AGENT} failed: {await response.text()}")
        tasks = [asyncio.create_task(user(server, session, tally, n)) for n in range(users)]
        await asyncio.sleep(warmup_s)
        tally.measuring = True
        started = time.perf_counter()
        cpu_before = (tree_cpu_seconds(server.pid), time.process_time(), machine_cpu_seconds())
        await asyncio.sleep(duration_s)
        tally.measuring = False
        elapsed = time.perf_counter() - started
        cpu_after = (tree_cpu_seconds(server.pid), time.process_time(), machine_cpu_seconds())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    report(tally, users, elapsed)
    requests = sum(len(values) for values in tally.latencies.values()) or 1
    server_s, client_s, machine_s = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    print(
        f"CPU per request: server {server_s / requests * 1000:.2f} ms, this load generator"
        f" {client_s / requests * 1000:.2f} ms, everything else (the database, ...)"
        f" {(machine_s - server_s - client_s) / requests * 1000:.2f} ms;"
        f" the machine was {machine_s / elapsed / (os.cpu_count() or 1):.0%} busy"
    )


def report(tally: Tally, users: int, elapsed: float) -> None:
    every = sorted(x for values in tally.latencies.values() for x in values)
    errors = sum(tally.errors.values())
    rps = len(every) / elapsed
    print(f"{'endpoint':<28} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, values in tally.latencies.items():
        ordered = sorted(values)
        print(
            f"{name:<28} {len(ordered):>7} {pct(ordered, 0.5):>8.1f} {pct(ordered, 0.95):>8.1f}"
            f" {pct(ordered, 0.99):>8.1f} {tally.errors.get(name, 0):>7}"
        )
    print()
    print(f"{users} users, {elapsed:.1f} s measured, {len(every):,} requests")
    print(f"{'':<12} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    print(
        f"{'measured':<12} {rps:>9,.0f} {pct(every, 0.5):>8.1f} {pct(every, 0.95):>8.1f}"
        f" {pct(every, 0.99):>8.1f} {errors:>7}"
    )
    print(f"{'seed':<12} {SEED_RPS:>9,.0f} {'':>8} {SEED_P95_MS:>8.0f} {SEED_P99_MS:>8.0f}")
    target = SEED_RPS * TARGET_FACTOR
    print(f"{'target':<12} {target:>9,.0f} {'':>8} {'':>8} {TARGET_P99_MS:>8.0f} {0:>7}")
    met = rps >= target and pct(every, 0.99) <= TARGET_P99_MS and errors == 0
    print(f"throughput {rps / SEED_RPS:.1f}x the seed's; target {'met' if met else 'MISSED'}")
    for example in tally.examples:
        print(f"  error: {example}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="scratch PostgreSQL database")
    parser.add_argument("--agent-latency-ms", type=int, default=0)
    parser.add_argument("--agent-concurrency", type=int, default=64)
    args = parser.parse_args()
    agent = mix_agent(args.agent_latency_ms, args.agent_concurrency)
    with aifactory_server(workers=args.workers, postgres=args.postgres) as server:
        asyncio.run(drive(server, args.users, args.warmup, args.duration, agent))


if __name__ == "__main__":
    main()
