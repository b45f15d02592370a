"""The llm agent against a fake provider client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from aifactory.agents.llm import LLMAgent
from aifactory.domain.agent_config import LLMAgentConfig
from aifactory.domain.models import Message, TestCase, Usage
from aifactory.errors import AgentError, AgentTimeout, LLMError, LLMRateLimited, LLMTimeout
from aifactory.llm.base import LLMRequest, LLMResponse


@dataclass
class FakeClient:
    """Answers every request with ``response`` (or raises ``error``) and records requests."""

    response: LLMResponse = field(default_factory=lambda: LLMResponse(text="ok"))
    error: Exception | None = None
    delay_s: float = 0.0
    requests: list[LLMRequest] = field(default_factory=list)
    closed: bool = False

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.response

    async def aclose(self) -> None:
        self.closed = True


CONFIG = LLMAgentConfig(
    provider="openai",
    model="gpt-test",
    system_prompt="You are a support bot.",
    temperature=0.3,
    max_tokens=256,
)


async def test_prompt_input_becomes_one_user_message() -> None:
    client = FakeClient(
        LLMResponse(
            text="Refunds within 30 days.",
            usage=Usage(input_tokens=20, output_tokens=6, cost_usd=0.0004),
        )
    )
    reply = await LLMAgent(CONFIG, client).respond(TestCase(name="c", input="Refund?"), timeout=5)
    assert reply.output == "Refunds within 30 days."
    assert reply.usage == Usage(input_tokens=20, output_tokens=6, cost_usd=0.0004)
    assert reply.latency_ms >= 0
    [request] = client.requests
    assert request.model == "gpt-test"
    assert request.system == "You are a support bot."
    assert (request.temperature, request.max_tokens) == (0.3, 256)
    assert request.messages == [Message(role="user", content="Refund?")]


async def test_conversation_system_turns_merge_into_the_system_prompt() -> None:
    client = FakeClient()
    case = TestCase(
        name="c",
        input=[
            Message(role="system", content="The customer is a gold member."),
            Message(role="user", content="Hi"),
            Message(role="assistant", content="Hello!"),
            Message(role="user", content="Refund?"),
        ],
    )
    await LLMAgent(CONFIG, client).respond(case, timeout=5)
    [request] = client.requests
    assert request.system == "You are a support bot.\n\nThe customer is a gold member."
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]


async def test_only_system_turns_is_an_agent_error() -> None:
    case = TestCase(name="c", input=[Message(role="system", content="x")])
    with pytest.raises(AgentError, match="only system messages"):
        await LLMAgent(CONFIG, FakeClient()).respond(case, timeout=5)


async def test_tool_calls_are_reported() -> None:
    client = FakeClient(
        LLMResponse(
            text="",
            tool_calls=[
                {"name": "lookup_order", "args": {"id": 7}},
                {"name": "refund", "arguments": '{"amount": 12.5}'},
                {"args": {"nameless": True}},
            ],
        )
    )
    reply = await LLMAgent(CONFIG, client).respond(TestCase(name="c", input="x"), timeout=5)
    assert [(c.name, c.args) for c in reply.tool_calls] == [
        ("lookup_order", {"id": 7}),
        ("refund", {"amount": 12.5}),
    ]


async def test_slow_model_times_out() -> None:
    client = FakeClient(delay_s=5)
    with pytest.raises(AgentTimeout, match=r"0\.05 s"):
        await LLMAgent(CONFIG, client).respond(TestCase(name="c", input="x"), timeout=0.05)


async def test_provider_timeout_is_an_agent_timeout() -> None:
    client = FakeClient(error=LLMTimeout("provider timed out"))
    with pytest.raises(AgentTimeout):
        await LLMAgent(CONFIG, client).respond(TestCase(name="c", input="x"), timeout=5)


@pytest.mark.parametrize("error", [LLMError("bad request: model not found"), LLMRateLimited("429")])
async def test_provider_failure_is_an_agent_error_with_its_message(error: LLMError) -> None:
    client = FakeClient(error=error)
    with pytest.raises(AgentError, match=str(error)) as raised:
        await LLMAgent(CONFIG, client).respond(TestCase(name="c", input="x"), timeout=5)
    assert not isinstance(raised.value, AgentTimeout)


async def test_aclose_leaves_a_shared_client_open_and_runs_on_close() -> None:
    client = FakeClient()
    await LLMAgent(CONFIG, client).aclose()
    assert not client.closed
    await LLMAgent(CONFIG, client, on_close=client.aclose).aclose()
    assert client.closed
