"""The adaptive concurrency limiter: halves on 429, grows back, never above the maximum."""

from __future__ import annotations

import asyncio

import pytest
from tests.fakes.fake_llm import (
    FakeLLMServer,
    Hang,
    Reply,
    SleepRecorder,
    Status,
    fake_llm_settings,
)

from aifactory.domain.models import Message
from aifactory.llm.base import LLMRequest
from aifactory.llm.concurrency import AdaptiveLimiter, InMemoryLimiterStore, LimiterState
from aifactory.llm.factory import make_client

pytest_plugins = ["tests.fakes.fixtures"]


async def hold(limiter: AdaptiveLimiter, seconds: float, peak: list[int]) -> None:
    async with limiter.slot():
        peak.append(limiter.in_flight)
        await asyncio.sleep(seconds)


async def test_never_more_in_flight_than_the_limit() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=3)
    seen: list[int] = []
    await asyncio.gather(*(hold(limiter, 0.01, seen) for _ in range(12)))
    assert max(seen) == 3
    assert limiter.in_flight == 0


async def test_halves_on_rate_limit_down_to_one() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=16)
    limits = []
    for _ in range(6):
        async with limiter.slot() as ticket:
            pass
        limits.append((await limiter.on_rate_limited(ticket)).limit)
    assert limits == [8, 4, 2, 1, 1, 1]


async def test_grows_by_one_after_a_run_of_successes_up_to_the_maximum() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=4, grow_after=3)
    async with limiter.slot() as ticket:
        pass
    await limiter.on_rate_limited(ticket)
    assert limiter.limit == 2
    for _ in range(2):
        await limiter.on_success()
    assert limiter.limit == 2  # not yet: two successes of three
    await limiter.on_success()
    assert limiter.limit == 3
    for _ in range(30):
        await limiter.on_success()
    assert limiter.limit == 4  # never above the configured maximum


async def test_a_rate_limit_resets_the_run_of_successes() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=8, grow_after=3)
    async with limiter.slot() as ticket:
        pass
    await limiter.on_rate_limited(ticket)  # 4
    await limiter.on_success()
    await limiter.on_success()
    async with limiter.slot() as ticket:
        pass
    await limiter.on_rate_limited(ticket)  # 2
    await limiter.on_success()
    await limiter.on_success()
    assert limiter.limit == 2
    assert limiter.state() == LimiterState(limit=2, successes=2, epoch=2)


async def test_one_burst_of_429s_halves_only_once() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=16)
    tickets = []
    for _ in range(5):  # five calls sent together...
        async with limiter.slot() as ticket:
            tickets.append(ticket)
    for ticket in tickets:  # ...all answered 429
        await limiter.on_rate_limited(ticket)
    assert limiter.limit == 8


async def test_waiters_proceed_when_the_limit_grows() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=2, grow_after=1)
    async with limiter.slot() as ticket:
        pass
    await limiter.on_rate_limited(ticket)
    assert limiter.limit == 1
    entered = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with limiter.slot():
            await release.wait()

    async def second() -> None:
        async with limiter.slot():
            entered.set()

    first_task = asyncio.create_task(first())
    await asyncio.sleep(0)
    second_task = asyncio.create_task(second())
    await asyncio.sleep(0.01)
    assert not entered.is_set()  # limit 1, one in flight
    await limiter.on_success()  # grows to 2
    await asyncio.wait_for(entered.wait(), 60)  # only guards against a hang
    release.set()
    await asyncio.gather(first_task, second_task)


async def test_limiters_sharing_a_store_share_the_limit() -> None:
    store = InMemoryLimiterStore()
    a = AdaptiveLimiter("anthropic:key", max_concurrency=10, store=store)
    b = AdaptiveLimiter("anthropic:key", max_concurrency=10, store=store)
    async with a.slot() as ticket:
        pass
    await a.on_rate_limited(ticket)
    assert (await b.refresh()).limit == 5
    assert b.limit == 5


async def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimiter("p", max_concurrency=0)


async def test_client_concurrency_adapts_to_real_429s(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    settings = fake_llm_settings(fake_llm, llm_max_attempts=5)
    limiter = AdaptiveLimiter("anthropic", max_concurrency=8, grow_after=100)
    client = make_client("anthropic", settings, sleep=sleeps, limiter=limiter)
    request = LLMRequest(model="claude-haiku-4-5", messages=[Message(role="user", content="hi")])
    try:
        fake_llm.script(*[Status(429, {"retry-after": "0"})] * 8)
        await asyncio.gather(*(client.complete(request) for _ in range(8)))
        assert len(fake_llm.requests) == 16  # every call retried once, and succeeded
        assert limiter.limit == 4  # eight 429s of one burst: halved once
        # With the limit at 4, slow answers never have more than 4 in flight.
        fake_llm.responder = lambda body: Hang(0.05, then=Reply(text="ok"))
        fake_llm.peak_in_flight = 0
        await asyncio.gather(*(client.complete(request) for _ in range(12)))
        assert fake_llm.peak_in_flight == 4
    finally:
        await client.aclose()
