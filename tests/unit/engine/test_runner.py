"""The concurrent runner: limits, repeat, budget, cancel, timeouts, retries, cache, streaming."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aifactory.domain.checks import CheckContext
from aifactory.domain.models import AgentReply, CheckSpec, TestCase, TestResult, Usage
from aifactory.engine.cache import MemoryCache
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.limits import TokenBucket
from aifactory.engine.runner import ListSink, RunOptions, run_cases
from aifactory.errors import AgentHTTPError, AgentResponseError


class EchoAgent:
    """Answers the input back after a delay; counts calls and the peak of calls in flight."""

    def __init__(self, delay: float = 0.0, cost: float | None = None) -> None:
        self.delay = delay
        self.cost = cost
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return AgentReply(
            output=f"echo: {case.input_text()}",
            usage=Usage(input_tokens=3, output_tokens=4, cost_usd=self.cost),
        )

    async def aclose(self) -> None:
        return None


class FlakyAgent(EchoAgent):
    """Fails with the given errors first, then answers."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__()
        self.errors = errors

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        if self.errors:
            self.calls += 1
            raise self.errors.pop(0)
        return await super().respond(case, timeout=timeout)


def _runner(agent: EchoAgent, **options: float | int) -> CaseRunner:
    return CaseRunner(
        agent=agent,
        ctx=CheckContext(),
        agent_key="test-agent",
        options=CaseRunnerOptions(**options),  # type: ignore[arg-type]
    )


def _cases(n: int, check: str = "echo") -> list[TestCase]:
    return [
        TestCase(
            name=f"case {i}",
            input=f"question {i}",
            checks=[CheckSpec(type="contains", value=check)],
            tags=["even" if i % 2 else "odd"],
        )
        for i in range(n)
    ]


async def test_every_case_gives_one_result_streamed_to_the_sink() -> None:
    agent = EchoAgent()
    sink = ListSink()
    summary = await run_cases(_cases(25), _runner(agent), sink, options=RunOptions(concurrency=4))
    assert summary.total == summary.completed == summary.passed == 25
    assert sorted(r.case_index for r in sink.results) == list(range(25))
    assert all(r.output == f"echo: question {r.case_index}" for r in sink.results)
    assert summary.pass_rate == 1.0
    assert summary.pass_rate_ci is not None and summary.pass_rate_ci.low < 1.0
    assert summary.by_tag["odd"]["total"] == 13
    assert summary.usage.input_tokens == 75


async def test_concurrency_limit_is_the_peak_in_flight() -> None:
    agent = EchoAgent(delay=0.01)
    await run_cases(_cases(40), _runner(agent), ListSink(), options=RunOptions(concurrency=5))
    assert agent.peak == 5


async def test_failing_checks_fail_the_case_with_feedback() -> None:
    sink = ListSink()
    summary = await run_cases(_cases(3, check="nowhere"), _runner(EchoAgent()), sink)
    assert summary.failed == 3 and summary.passed == 0
    assert "nowhere" in sink.results[0].feedback


async def test_repeat_runs_each_case_k_times_and_reports_flaky_cases() -> None:
    outcomes = iter([True, False, True, True, True, True])

    class Alternating(EchoAgent):
        async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
            ok = next(outcomes)
            return AgentReply(output="echo" if ok else "nope")

    sink = ListSink()
    summary = await run_cases(
        _cases(2), _runner(Alternating()), sink, options=RunOptions(concurrency=1, repeat=3)
    )
    assert summary.completed == 6
    assert sorted((r.case_index, r.repeat_index) for r in sink.results) == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    assert summary.flaky_cases == ["case 0"]
    assert summary.pass_at_k["1"] == pytest.approx((2 / 3 + 1) / 2)
    assert summary.pass_at_k["3"] == 1.0


async def test_budget_stops_the_run_cleanly() -> None:
    agent = EchoAgent(cost=0.01)
    sink = ListSink()
    summary = await run_cases(
        _cases(100), _runner(agent), sink, options=RunOptions(concurrency=1, budget_usd=0.05)
    )
    assert summary.stopped_reason == "budget"
    assert summary.completed == 5 == len(sink.results) == agent.calls
    assert summary.cost_usd == pytest.approx(0.05)


async def test_should_stop_cancels_remaining_cases() -> None:
    sink = ListSink()
    summary = await run_cases(
        _cases(50),
        _runner(EchoAgent()),
        sink,
        options=RunOptions(concurrency=2),
        should_stop=lambda: len(sink.results) >= 10,
    )
    assert summary.stopped_reason == "cancelled"
    assert 10 <= summary.completed < 50


async def test_timeout_is_an_error_result_and_the_run_goes_on() -> None:
    class Slow(EchoAgent):
        async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
            if case.name == "case 1":
                await asyncio.sleep(5)
            return await super().respond(case, timeout=timeout)

    sink = ListSink()
    summary = await run_cases(_cases(3), _runner(Slow(), timeout_s=0.05, retries=0), sink)
    errored = [r for r in sink.results if r.status == "error"]
    assert summary.errored == 1 and summary.passed == 2
    assert errored[0].test_case.name == "case 1"
    assert errored[0].error is not None and "did not answer within 0.05 s" in errored[0].error


async def test_transient_errors_are_retried_and_permanent_ones_are_not() -> None:
    agent = FlakyAgent([AgentHTTPError("HTTP 503", status=503)])
    result = await _runner(agent, retries=2, retry_backoff_s=0.001).run(_cases(1)[0])
    assert result.status == "passed" and agent.calls == 2

    agent = FlakyAgent([AgentResponseError("garbage"), AgentResponseError("garbage")])
    result = await _runner(agent, retries=2, retry_backoff_s=0.001).run(_cases(1)[0])
    assert result.status == "error" and result.error == "garbage" and agent.calls == 1


async def test_cache_answers_unchanged_cases_without_calling_the_agent() -> None:
    cache = MemoryCache()
    agent = EchoAgent()
    runner = _runner(agent)
    runner.cache = cache
    first: list[TestResult] = []
    for case in _cases(3):
        first.append(await runner.run(case))
    again = [await runner.run(case) for case in _cases(3)]
    assert agent.calls == 3
    assert [r.cached for r in first] == [False] * 3 and [r.cached for r in again] == [True] * 3
    assert [r.output for r in again] == [r.output for r in first]
    other = CaseRunner(agent=agent, ctx=CheckContext(), agent_key="other-version", cache=cache)
    await other.run(_cases(1)[0])
    assert agent.calls == 4


async def test_an_invalid_check_is_an_error_result_not_a_crash() -> None:
    case = TestCase(name="bad", input="x", checks=[CheckSpec(type="contans", value="x")])
    sink = ListSink()
    summary = await run_cases([case, *_cases(2)], _runner(EchoAgent()), sink)
    assert summary.errored == 1 and summary.passed == 2
    bad = next(r for r in sink.results if r.test_case.name == "bad")
    assert bad.error is not None and "contans" in bad.error and "Known types" in bad.error


async def test_cases_are_pulled_lazily() -> None:
    pulled = 0

    def generate() -> Iterator[TestCase]:
        nonlocal pulled
        for case in _cases(1000):
            pulled += 1
            yield case

    seen_when_first_written: list[int] = []

    class Probe(ListSink):
        async def write(self, result: TestResult) -> None:
            if not seen_when_first_written:
                seen_when_first_written.append(pulled)
            await super().write(result)

    await run_cases(
        generate(), _runner(EchoAgent(delay=0.001)), Probe(), options=RunOptions(concurrency=4)
    )
    assert seen_when_first_written[0] <= 8
    assert pulled == 1000


async def test_rate_limit_spaces_calls() -> None:
    bucket = TokenBucket(600, burst=1)  # 10 per second
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(4):
        await bucket.acquire()
    assert loop.time() - started >= 0.28
