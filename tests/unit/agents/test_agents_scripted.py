"""The scripted agent: rule matching, tool calls, latency."""

from __future__ import annotations

import asyncio

import pytest

from aifactory.agents.scripted import ScriptedAgent
from aifactory.domain.agent_config import ScriptedAgentConfig
from aifactory.domain.models import Message, TestCase
from aifactory.errors import AgentTimeout, ConfigError


def agent(**config: object) -> ScriptedAgent:
    return ScriptedAgent(ScriptedAgentConfig.model_validate(config))


def case(text: str | list[Message]) -> TestCase:
    return TestCase(name="c", input=text)


RULES = {
    "responses": [
        {"match": "refund", "output": "Refunds within 30 days."},
        {"match": "REFUND policy", "output": "never reached: the first rule wins"},
        {"match": r"order\s+#\d+", "regex": True, "output": "Looking up your order."},
        {
            "match": "weather",
            "output": "Sunny.",
            "tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}}],
        },
    ],
    "default": "I don't know.",
}


async def test_substring_match_ignores_case() -> None:
    reply = await agent(**RULES).respond(case("Can I get a REFUND?"), timeout=1)
    assert reply.output == "Refunds within 30 days."
    assert reply.tool_calls == []


async def test_first_matching_rule_wins() -> None:
    reply = await agent(**RULES).respond(case("what is the refund policy"), timeout=1)
    assert reply.output == "Refunds within 30 days."


async def test_regex_rule_matches_case_insensitively() -> None:
    scripted = agent(**RULES)
    assert (await scripted.respond(case("Where is ORDER   #123?"), timeout=1)).output == (
        "Looking up your order."
    )
    # The pattern is a pattern, not a substring: "order #" without digits does not match.
    assert (await scripted.respond(case("order #abc"), timeout=1)).output == "I don't know."


async def test_regex_metacharacters_are_literal_in_substring_rules() -> None:
    scripted = agent(responses=[{"match": "a.c", "output": "dot"}], default="none")
    assert (await scripted.respond(case("abc"), timeout=1)).output == "none"
    assert (await scripted.respond(case("xa.cx"), timeout=1)).output == "dot"


async def test_default_when_nothing_matches() -> None:
    reply = await agent(**RULES).respond(case("hello"), timeout=1)
    assert reply.output == "I don't know."


async def test_rule_tool_calls_are_reported() -> None:
    reply = await agent(**RULES).respond(case("Weather in Paris?"), timeout=1)
    assert [(c.name, c.args) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]


async def test_conversation_matches_on_last_user_turn() -> None:
    conversation = [
        Message(role="user", content="I want a refund"),
        Message(role="assistant", content="Sure."),
        Message(role="user", content="And the weather?"),
    ]
    reply = await agent(**RULES).respond(case(conversation), timeout=1)
    assert reply.output == "Sunny."


async def test_latency_is_simulated_and_measured() -> None:
    reply = await agent(default="ok", latency_ms=50).respond(case("x"), timeout=1)
    assert reply.latency_ms >= 45


async def test_latency_beyond_timeout_raises_timeout() -> None:
    # An hour of latency: only the 0.05 s limit ends the call (the guard fails the test instead
    # of hanging it when the limit does not hold).
    slow = agent(default="ok", latency_ms=3_600_000)
    with pytest.raises(AgentTimeout, match="time limit"):
        await asyncio.wait_for(slow.respond(case("x"), timeout=0.05), 60)


def test_bad_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="does not compile"):
        agent(responses=[{"match": "(", "regex": True, "output": "x"}])


def test_tool_call_without_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tool call"):
        agent(responses=[{"match": "x", "output": "y", "tool_calls": [{"args": {}}]}])


def _turns(*said: str) -> list[Message]:
    messages: list[Message] = []
    for text in said:
        messages += [Message(role="user", content=text), Message(role="assistant", content="…")]
    return messages[:-1]


async def test_a_rule_with_a_turn_answers_only_at_that_turn() -> None:
    scripted = agent(
        responses=[
            {"turn": 1, "output": "What is your order number?"},
            {"match": "A-", "turn": 2, "output": "Refund issued."},
        ],
        default="Sorry?",
    )

    first = await scripted.respond(case("I want a refund"), timeout=1)
    second = await scripted.respond(case(_turns("I want a refund", "A-1234")), timeout=1)
    third = await scripted.respond(case(_turns("x", "y", "A-1234")), timeout=1)

    assert first.output == "What is your order number?"
    assert second.output == "Refund issued."
    assert third.output == "Sorry?"


def test_a_turn_is_counted_from_one() -> None:
    with pytest.raises(ValueError, match="turn"):
        ScriptedAgentConfig.model_validate({"responses": [{"turn": 0, "output": "x"}]})
