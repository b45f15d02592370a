"""Conversations end to end over real protocols: an http agent keeping sessions by cookie, the
simulated user and the judge on the fake Anthropic server, an llm agent given the history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, fake_llm_settings, last_user_text
from tests.fakes.mock_agent import Behaviour, MockAgent, start_mock_agent

from aifactory.domain.models import AgentSpec, TestCase
from aifactory.engine.runner import ListSink, RunOptions, run_cases
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.llm.factory import LLMClients
from aifactory.llm.judge import make_judge

pytest_plugins = ["tests.fakes.fixtures"]


def responder(body: dict[str, Any]) -> Reply:
    """The simulator gives its order number once asked twice, then is done; the judge passes a
    conversation that mentions the order."""
    prompt = last_user_text(body)
    if "You play the user" in str(body.get("system")):
        if "turn 2:" in prompt:
            return Reply(structured={"message": "", "done": True, "outcome": "goal_reached"})
        return Reply(structured={"message": "It is A-1234", "done": False, "outcome": None})
    reached = "A-1234" in prompt
    return Reply(
        structured={"reasoning": "checked", "score": 1.0 if reached else 0.0, "pass": reached}
    )


@pytest.fixture
async def mock() -> AsyncIterator[MockAgent]:
    async with start_mock_agent(behaviours={"/chat": Behaviour(session_by="cookie")}) as server:
        yield server


async def test_simulated_conversations_with_an_http_agent_keeping_cookies(
    fake_llm: FakeLLMServer, mock: MockAgent
) -> None:
    fake_llm.responder = responder
    settings = fake_llm_settings(fake_llm, allowed_agent_hosts="127.0.0.1")
    spec = AgentSpec(kind="http", config={"url": f"{mock.url}/chat"}, max_concurrency=3)
    cases = [
        TestCase.model_validate(
            {
                "name": f"refund {i}",
                "simulated_user": {
                    "persona": "A customer with torn shoes",
                    "goal": "a refund for order A-1234",
                    "first_message": f"I want a refund ({i})",
                },
                "checks": [{"type": "goal_completed"}, {"type": "turn_count", "max": 2}],
            }
        )
        for i in range(3)
    ]
    async with LLMClients(settings) as clients:
        factory = RunnerFactory(
            settings=settings, clients=clients, judge=make_judge(settings, clients)
        )
        agent = factory.agent(spec)
        try:
            sink = ListSink()
            summary = await run_cases(
                cases,
                factory.case_runner(spec, agent),
                sink,
                options=RunOptions(concurrency=3),
            )
        finally:
            await agent.aclose()

    assert summary.passed == 3, [r.feedback for r in sink.results]
    assert len(mock.conversations) == 3
    for result in sink.results:
        assert result.stop_reason == "goal_reached"
        assert result.turns == 2
        assert result.output is not None and result.output.startswith("turn 2: It is A-1234")
        assert result.simulator_usage.input_tokens > 0
    simulator_calls = [r for r in fake_llm.requests if "You play" in str(r.json.get("system"))]
    assert len(simulator_calls) == 6
    assert all("goal_completed" not in str(r.json) for r in simulator_calls)


async def test_an_llm_agent_gets_the_whole_history(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("What is your order number?", "Refund issued.")
    settings = fake_llm_settings(fake_llm)
    spec = AgentSpec(
        kind="llm", config={"model": "claude-haiku-4-5", "system_prompt": "You are support."}
    )
    case = TestCase.model_validate(
        {
            "name": "refund",
            "turns": [
                {"input": "I want a refund", "checks": [{"type": "contains", "value": "order"}]},
                {"input": "A-1234", "checks": [{"type": "contains", "value": "Refund"}]},
            ],
        }
    )
    async with LLMClients(settings) as clients:
        factory = RunnerFactory(settings=settings, clients=clients, judge=None)
        agent = factory.agent(spec)
        result = await factory.case_runner(spec, agent).run(case)
        await agent.aclose()

    assert result.status == "passed", result.feedback
    second = fake_llm.requests[1].json
    assert [(m["role"], m["content"]) for m in second["messages"]] == [
        ("user", "I want a refund"),
        ("assistant", "What is your order number?"),
        ("user", "A-1234"),
    ]
    assert second["system"] == "You are support."
    assert result.usage.input_tokens > 0
