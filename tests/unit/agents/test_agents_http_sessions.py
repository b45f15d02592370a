"""Conversations with an http agent: session ids, session_path, cookies, the SSRF guard per turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.mock_agent import Behaviour, MockAgent, start_mock_agent

from aifactory.agents.base import open_session
from aifactory.agents.http import HTTPAgent
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.agent_config import HTTPAgentConfig
from aifactory.domain.models import AgentReply, Message, TestCase
from aifactory.errors import AgentResponseError, BlockedAddressError

LOCAL = AddressPolicy(["127.0.0.1"])
BASE = TestCase(name="talk", input="unused", vars={"tenant": "acme"})


@pytest.fixture
async def mock() -> AsyncIterator[MockAgent]:
    async with start_mock_agent() as server:
        yield server


def agent(url: str, **config: Any) -> HTTPAgent:
    return HTTPAgent(HTTPAgentConfig(url=url, **config), policy=LOCAL)


async def converse(http: HTTPAgent, session_id: str, *said: str) -> list[AgentReply]:
    """Send ``said`` turn by turn through one session, each with the history so far."""
    session = open_session(http, session_id)
    history: list[Message] = []
    replies = []
    try:
        for text in said:
            history.append(Message(role="user", content=text))
            turn = BASE.model_copy(update={"input": list(history)})
            reply = await session.respond(turn, timeout=5)
            history.append(Message(role="assistant", content=reply.output))
            replies.append(reply)
    finally:
        await session.aclose()
    return replies


async def test_a_conversation_sends_the_contract_body_with_the_history(mock: MockAgent) -> None:
    mock.behave("/chat", Behaviour(session_by="id"))
    http = agent(f"{mock.url}/chat")

    replies = await converse(http, "s-1", "I want a refund", "It is A-1234")
    await http.aclose()

    assert [r.output for r in replies] == [
        "turn 1: I want a refund",
        "turn 2: It is A-1234 (earlier: I want a refund)",
    ]
    second = mock.requests[1].body
    assert second["input"] == "It is A-1234"
    assert second["session_id"] == "s-1"
    assert second["messages"] == [
        {"role": "user", "content": "I want a refund"},
        {"role": "assistant", "content": "turn 1: I want a refund"},
        {"role": "user", "content": "It is A-1234"},
    ]


async def test_a_single_case_still_sends_only_the_input(mock: MockAgent) -> None:
    http = agent(mock.url)

    await http.respond(TestCase(name="one", input="hi"), timeout=5)
    await http.aclose()

    assert mock.requests[0].body == {"input": "hi"}


async def test_concurrent_conversations_keep_their_own_session_ids(mock: MockAgent) -> None:
    mock.behave("/chat", Behaviour(session_by="id", latency_s=0.01))
    http = agent(f"{mock.url}/chat")

    first, second = await asyncio.gather(
        converse(http, "a", "a1", "a2", "a3"), converse(http, "b", "b1", "b2", "b3")
    )
    await http.aclose()

    assert first[-1].output == "turn 3: a3 (earlier: a1 | a2)"
    assert second[-1].output == "turn 3: b3 (earlier: b1 | b2)"


async def test_session_id_fills_url_headers_and_a_body_template(mock: MockAgent) -> None:
    mock.behave("/t/acme/chat", Behaviour(session_by="id"))
    http = agent(
        f"{mock.url}/t/{{{{vars.tenant}}}}/chat?conversation={{{{session_id}}}}",
        headers={"X-Session-ID": "{{session_id}}", "X-Turn": "{{input}}"},
        body={"message": "{{input}}", "history": "{{messages}}"},
    )

    replies = await converse(http, "s-42", "hello", "again")
    await http.aclose()

    assert replies[1].output == "turn 2: again (earlier: hello)"
    request = mock.requests[1]
    assert request.query == {"conversation": "s-42"}
    assert request.headers["X-Session-ID"] == "s-42"
    assert request.headers["X-Turn"] == "again"
    assert request.body["message"] == "again" and len(request.body["history"]) == 3


async def test_session_path_reads_the_agents_own_id_and_sends_it_from_then_on(
    mock: MockAgent,
) -> None:
    mock.behave("/chat", Behaviour(session_by="issued"))
    http = agent(f"{mock.url}/chat", session_path="$.session.id")

    replies = await converse(http, "ours", "one", "two", "three")
    await http.aclose()

    assert replies[-1].output == "turn 3: three (earlier: one | two)"
    assert [r.body["session_id"] for r in mock.requests] == ["ours", "agent-1", "agent-1"]


async def test_a_first_reply_without_the_session_id_is_an_agent_error(mock: MockAgent) -> None:
    mock.behave("/chat", Behaviour(session_by="id"))
    http = agent(f"{mock.url}/chat", session_path="$.session.id")

    with pytest.raises(AgentResponseError, match=r"session_path '\$\.session\.id'"):
        await converse(http, "ours", "one")
    await http.aclose()


async def test_cookies_are_kept_per_conversation(mock: MockAgent) -> None:
    mock.behave("/chat", Behaviour(session_by="cookie", latency_s=0.01))
    http = agent(f"{mock.url}/chat")

    first, second = await asyncio.gather(
        converse(http, "a", "a1", "a2"), converse(http, "b", "b1", "b2")
    )
    later = await converse(http, "c", "c1")
    await http.aclose()

    assert first[-1].output == "turn 2: a2 (earlier: a1)"
    assert second[-1].output == "turn 2: b2 (earlier: b1)"
    assert later[0].output == "turn 1: c1"
    assert len(mock.conversations) == 3


async def test_single_cases_never_share_cookies(mock: MockAgent) -> None:
    mock.behave("/chat", Behaviour(session_by="cookie"))
    http = agent(f"{mock.url}/chat")

    for _ in range(2):
        reply = await http.respond(TestCase(name="one", input="hi"), timeout=5)
        assert reply.output == "turn 1: hi"
    await http.aclose()


async def test_the_ssrf_guard_holds_at_every_turn(mock: MockAgent) -> None:
    # The second turn's path redirects to the cloud metadata address.
    mock.behave("/chat", Behaviour(session_by="id"))
    mock.behave("/away", Behaviour(redirect_to="http://169.254.169.254/latest"))
    http = agent(f"{mock.url}/{{{{input}}}}")
    session = open_session(http, "s")

    await session.respond(BASE.model_copy(update={"input": "chat"}), timeout=5)
    with pytest.raises(BlockedAddressError):
        await session.respond(BASE.model_copy(update={"input": "away"}), timeout=5)
    await session.aclose()
    await http.aclose()

    assert [r.path for r in mock.requests] == ["/chat", "/away"]
