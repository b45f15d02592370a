"""The runner against a real HTTP agent on loopback: the concurrency limit holds at the server."""

from __future__ import annotations

import time

from tests.fakes.mock_agent import start_mock_agent

from aifactory.agents.http import HTTPAgent
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.agent_config import HTTPAgentConfig
from aifactory.domain.checks import CheckContext
from aifactory.domain.models import CheckSpec, TestCase
from aifactory.engine.case_runner import CaseRunner
from aifactory.engine.limits import TokenBucket
from aifactory.engine.runner import ListSink, RunOptions, run_cases


def _cases(n: int) -> list[TestCase]:
    return [
        TestCase(name=f"c{i}", input=f"q{i}", checks=[CheckSpec(type="json_valid", contains=False)])
        for i in range(n)
    ]


async def test_peak_requests_in_flight_at_the_agent_equal_the_concurrency() -> None:
    async with start_mock_agent(latency_s=0.02) as mock:
        agent = HTTPAgent(HTTPAgentConfig(url=mock.url), policy=AddressPolicy(["127.0.0.1"]))
        runner = CaseRunner(agent=agent, ctx=CheckContext(), agent_key="mock")
        try:
            sink = ListSink()
            summary = await run_cases(_cases(60), runner, sink, options=RunOptions(concurrency=6))
        finally:
            await agent.aclose()
        assert mock.peak_in_flight == 6
        assert len(mock.requests) == 60
        assert summary.completed == 60
        assert {r.case_index for r in sink.results} == set(range(60))


async def test_rate_limit_holds_at_the_agent() -> None:
    async with start_mock_agent() as mock:
        agent = HTTPAgent(HTTPAgentConfig(url=mock.url), policy=AddressPolicy(["127.0.0.1"]))
        runner = CaseRunner(agent=agent, ctx=CheckContext(), agent_key="mock")
        try:
            loop_start = time.monotonic()
            await run_cases(
                _cases(6),
                runner,
                ListSink(),
                options=RunOptions(concurrency=6),
                limiter=TokenBucket(600, burst=1),
            )
            elapsed = time.monotonic() - loop_start
        finally:
            await agent.aclose()
        assert len(mock.requests) == 6
        assert elapsed >= 0.45  # 6 calls at 10 per second, one at a time
