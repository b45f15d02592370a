"""Limits and cancels hold for all workers together, not per worker.

* An agent's ``max_concurrency`` is the most calls in flight over three workers.
* A cancel stops the in-flight agent calls of every worker (calls that would otherwise hang
  for an hour; ``bench/distributed.py`` prints how soon they stop).
* ``rate_limit_per_minute`` holds within 10 % over the window, across processes (the minute
  scaled down to two seconds).
* The adaptive provider limit is one state for every worker.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from tests.fakes.mock_agent import Behaviour, start_mock_agent
from tests.fakes.server_process import running_server
from tests.integration.distributed.support import (
    create_agent,
    pg_fetch,
    submit,
    workers,
)

from aifactory.llm.concurrency import AdaptiveLimiter
from aifactory.llm.redis_store import RedisLimiterStore

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


_OWNERS = (
    "SELECT r.status, (SELECT COUNT(DISTINCT lease_owner) FROM results "
    "WHERE run_id = r.id AND status = 'running') AS owners FROM runs r WHERE r.id = $1"
)


async def _until(check: object, *, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not await check():  # type: ignore[operator]
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"Timed out after {timeout_s} s waiting for {what}.")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_max_concurrency_and_cancel_hold_across_three_workers(
    workdir: Path, env: dict[str, str], database_url: str
) -> None:
    async with start_mock_agent(latency_s=0.2, behaviours={"/hang": Behaviour(hang=True)}) as mock:
        with (
            running_server(workdir, env, args=("--no-seed-demo",)) as api,
            workers(workdir, env, 3, concurrency=16),
        ):
            spec = {"kind": "http", "max_concurrency": 4}
            await asyncio.to_thread(
                create_agent, api.url, "narrow", config={"url": f"{mock.url}/agent"}, **spec
            )
            narrow = await asyncio.to_thread(submit, api.url, "narrow", 150)
            spread_over = 0

            async def finished() -> bool:
                nonlocal spread_over
                rows = await pg_fetch(database_url, _OWNERS, narrow)
                spread_over = max(spread_over, rows[0]["owners"])
                return bool(rows[0]["status"] == "completed")

            await _until(finished, timeout_s=60, what="the narrow run")
            narrow_peak = mock.peak_in_flight

            mock.reset()
            spec = {"kind": "http", "max_concurrency": 100}
            # The agent never answers and its own limit is an hour: only the cancel ends the calls.
            stuck_config = {"url": f"{mock.url}/hang", "timeout_s": 3600}
            await asyncio.to_thread(create_agent, api.url, "stuck", config=stuck_config, **spec)
            stuck = await asyncio.to_thread(submit, api.url, "stuck", 150)

            async def spread() -> bool:
                rows = await pg_fetch(database_url, _OWNERS, stuck)
                return bool(rows[0]["owners"] >= 2 and mock.in_flight >= 20)

            await _until(spread, timeout_s=20, what="cases in flight on two workers")
            in_flight_before = mock.in_flight
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
                response = await client.post(f"/api/v1/runs/{stuck}/cancel")
            assert response.status_code == 200, response.text

            async def stopped() -> bool:
                return mock.in_flight == 0

            # The deadline only guards against a hang; the engine's case limit is 120 s.
            await _until(stopped, timeout_s=60, what="in-flight calls to stop")
    assert narrow_peak == 4  # reached, never exceeded, over three workers of 16 each
    assert spread_over >= 2  # the narrow run really was spread over several workers
    assert in_flight_before >= 20


_RATE_CLIENT = """
import asyncio, json, sys, time
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from aifactory.queue.shared_limits import RedisRateLimiter

async def main(url, amount, window_s, seconds):
    limiter = RedisRateLimiter(
        MovingWindowRateLimiter(RedisStorage("async+" + url)), "rated", amount, window_s
    )
    stamps = []
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())  # the instant every process starts calling
    end = start_at + seconds
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def caller():
        while True:
            await limiter.acquire()
            now = time.time()
            if now >= end:
                return
            stamps.append(now)

    await asyncio.gather(*(caller() for _ in range(8)))
    print(json.dumps(stamps))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
"""


def test_the_rate_limit_holds_within_ten_percent_over_three_processes(redis_url: str) -> None:
    # 1,200 calls a minute, the minute scaled down to 3 s: 60 calls in any 3 s.
    amount, window_s, seconds = 60, 3, 6.0
    args = [redis_url, str(amount), str(window_s), str(seconds)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RATE_CLIENT, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    # Once all three have started (imports take their time on a busy machine), every process
    # starts calling at the same instant, a moment from now.
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.5
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start_at}\n")
        process.stdin.flush()
    stamps = sorted(
        stamp for process in processes for stamp in json.loads(process.communicate(timeout=60)[0])
    )
    busiest = max(
        sum(1 for other in stamps if stamp <= other < stamp + window_s) for stamp in stamps
    )
    print(f"busiest window {busiest} of {amount}, {len(stamps)} calls in all")
    assert busiest <= amount * 1.1  # never more than the limit in any window, over all three
    expected = amount * seconds / window_s
    assert len(stamps) >= expected * 0.9  # and the callers together did get the whole rate


async def test_the_adaptive_provider_limit_is_one_state_for_every_worker(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a = AdaptiveLimiter("anthropic:key", 16, store=RedisLimiterStore(first))
        b = AdaptiveLimiter("anthropic:key", 16, store=RedisLimiterStore(second))
        async with a.slot() as ticket:
            await a.on_rate_limited(ticket)  # one worker gets a 429 ...
        assert (await b.refresh()).limit == 8  # ... and the other slows down too
        for _ in range(a.grow_after):
            await b.on_success()
        assert (await a.refresh()).limit == 9
        # Concurrent updates from both are all counted (the WATCH loop retries, never loses).
        await asyncio.gather(*(x.on_success() for x in (a, b) for _ in range(5)))
        state = await a.refresh()
        assert (state.limit, state.successes) == (10, 0)
    finally:
        await first.aclose()
        await second.aclose()
