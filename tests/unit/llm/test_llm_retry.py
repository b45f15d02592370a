"""The retry policy, on its own: what is retried, how long it waits, what it raises."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from tests.fakes.fake_llm import SleepRecorder

from aifactory.errors import LLMError, LLMRateLimited, LLMTimeout
from aifactory.llm.concurrency import AdaptiveLimiter
from aifactory.llm.retry import Failure, RetryPolicy, classify_status, parse_retry_after
from aifactory.settings import load_settings


class Boom(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, Boom) else None


def failing(
    *failures: Failure | None, result: str = "done"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that fails with ``failures`` in turn (None: succeed), then succeeds."""
    queue = list(failures)
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if queue:
            failure = queue.pop(0)
            if failure is not None:
                raise Boom(failure)
        return result

    return call, calls


RATE = Failure("rate_limited", "Slow down.", 429)
SERVER = Failure("server", "Oops.", 500)


def policy(sleeps: SleepRecorder, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, jitter=lambda: 0.5, **kwargs)  # type: ignore[arg-type]


def test_retry_after_headers() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "1200", "retry-after": "9"}) == 1.2
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "whenever"}) is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now=now) == 30.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, "rate_limited"),
        (529, "overloaded"),
        (500, "server"),
        (503, "server"),
        (408, "timeout"),
        (400, "fatal"),
        (401, "fatal"),
        (404, "fatal"),
    ],
)
def test_status_classes(status: int, kind: str) -> None:
    failure = classify_status(status, {}, "m")
    assert failure.kind == kind
    assert failure.retryable == (kind != "fatal")


async def test_backoff_doubles_under_full_jitter() -> None:
    sleeps = SleepRecorder()
    call, calls = failing(SERVER, SERVER, SERVER)
    result = await policy(sleeps, max_attempts=4, backoff_base_s=1.0).run(call, classify)
    assert result == "done"
    assert len(calls) == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]  # half (the jitter) of 1, 2, 4


async def test_backoff_never_exceeds_the_maximum() -> None:
    sleeps = SleepRecorder()
    call, _ = failing(*[SERVER] * 6)
    retry = RetryPolicy(
        max_attempts=7, backoff_base_s=1.0, backoff_max_s=3.0, sleep=sleeps, jitter=lambda: 0.999
    )
    await retry.run(call, classify)
    assert max(sleeps.calls) <= 3.0
    assert sleeps.calls[-1] == pytest.approx(2.997)


async def test_jitter_spreads_waits() -> None:
    retry = RetryPolicy(backoff_base_s=1.0)
    waits = {retry.delay(SERVER, 3) for _ in range(50)}
    assert len(waits) > 10
    assert all(0 <= w <= 4.0 for w in waits)


async def test_fatal_failures_are_not_retried() -> None:
    sleeps = SleepRecorder()
    call, calls = failing(Failure("fatal", "Bad request.", 400))
    with pytest.raises(LLMError, match=r"The model call failed \(HTTP 400\): Bad request\."):
        await policy(sleeps).run(call, classify)
    assert len(calls) == 1
    assert sleeps.calls == []


async def test_unclassified_exceptions_pass_through() -> None:
    async def call() -> str:
        raise KeyError("a bug of ours")

    with pytest.raises(KeyError):
        await policy(SleepRecorder()).run(call, classify)


async def test_giving_up_on_rate_limits_chains_the_cause() -> None:
    call, calls = failing(RATE, RATE, RATE)
    with pytest.raises(LLMRateLimited, match="Model 'm' was still rate limited") as info:
        await policy(SleepRecorder(), max_attempts=3).run(call, classify, what="Model 'm'")
    assert isinstance(info.value.__cause__, Boom)
    assert len(calls) == 3


async def test_attempt_time_limit_is_enforced() -> None:
    async def slow() -> str:
        await asyncio.sleep(10)
        return "never"

    retry = RetryPolicy(max_attempts=2, timeout_s=0.05, sleep=SleepRecorder())
    with pytest.raises(LLMTimeout, match=r"within 0\.05 s \(2 attempts\)"):
        await retry.run(slow, classify)


async def test_from_settings() -> None:
    settings = load_settings(
        {
            "AIFACTORY_LLM_MAX_ATTEMPTS": "6",
            "AIFACTORY_LLM_BACKOFF_S": "0.2",
            "AIFACTORY_LLM_BACKOFF_MAX_S": "9",
            "AIFACTORY_LLM_TIMEOUT_S": "12",
        }
    )
    retry = RetryPolicy.from_settings(settings)
    assert (retry.max_attempts, retry.backoff_base_s, retry.backoff_max_s, retry.timeout_s) == (
        6,
        0.2,
        9.0,
        12.0,
    )


async def test_the_limiter_hears_about_rate_limits_and_successes() -> None:
    limiter = AdaptiveLimiter("p", max_concurrency=8, grow_after=2)
    call, _ = failing(RATE, None)
    await policy(SleepRecorder()).run(call, classify, limiter=limiter)
    assert limiter.limit == 4  # halved by the 429
    assert limiter.state().successes == 1
    assert limiter.in_flight == 0  # every slot given back, also the failed attempt's
