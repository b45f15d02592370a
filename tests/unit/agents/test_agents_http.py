"""The http agent against the local mock agent: templating, parsing, errors, redirects."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tests.fakes.mock_agent import Behaviour, MockAgent, start_mock_agent

from aifactory.agents.env import EnvPolicy
from aifactory.agents.http import MAX_RESPONSE_BYTES, HTTPAgent, guarded_session
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.agent_config import HTTPAgentConfig
from aifactory.domain.models import Message, TestCase
from aifactory.errors import (
    AgentError,
    AgentHTTPError,
    AgentResponseError,
    AgentTimeout,
    BlockedAddressError,
)

LOCAL = AddressPolicy(["127.0.0.1"])
AGENT_ENV = EnvPolicy(["AGENT_*"])
CASE = TestCase(name="refund", input="Can I get a refund?", expected="30 days", vars={"n": 3})


@pytest.fixture
async def mock() -> AsyncIterator[MockAgent]:
    async with start_mock_agent() as server:
        yield server


async def ask(url: str, case: TestCase = CASE, *, timeout: float = 5, **config: Any) -> Any:
    agent = HTTPAgent(HTTPAgentConfig(url=url, **config), policy=LOCAL, env=AGENT_ENV)
    try:
        return await agent.respond(case, timeout=timeout)
    finally:
        await agent.aclose()


# --- the agent contract ---------------------------------------------------------------


async def test_contract_answer_with_tool_calls_and_usage(mock: MockAgent) -> None:
    mock.behave(
        "/agent",
        Behaviour(
            output="Refunds within 30 days.",
            tool_calls=[{"name": "lookup_policy", "args": {"topic": "refund"}}],
            usage={"input_tokens": 12, "output_tokens": 7, "cost_usd": 0.0021},
        ),
    )
    reply = await ask(f"{mock.url}/agent")
    assert reply.output == "Refunds within 30 days."
    assert [(c.name, c.args) for c in reply.tool_calls] == [("lookup_policy", {"topic": "refund"})]
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (12, 7)
    assert reply.usage.cost_usd == pytest.approx(0.0021)
    assert reply.latency_ms > 0


async def test_default_body_sends_the_input(mock: MockAgent) -> None:
    reply = await ask(mock.url)
    assert reply.output == "echo: Can I get a refund?"
    assert mock.requests[0].method == "POST"
    assert mock.requests[0].body == {"input": "Can I get a refund?"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"result": "no output field"}', "output"),
        ('{"output": 42}', "output"),
        ('{"output": "x", "tool_calls": [{"args": {}}]}', "tool_calls.0.name"),
        ('{"output": "x", "usage": {"input_tokens": "many"}}', "usage.input_tokens"),
        ('["output"]', "the answer"),
    ],
)
async def test_contract_violations_are_response_errors(
    mock: MockAgent, body: str, why: str
) -> None:
    mock.behave("/bad", Behaviour(text=body))
    with pytest.raises(AgentResponseError, match=f"breaks the agent contract at {why}"):
        await ask(f"{mock.url}/bad")


async def test_garbage_answer_is_a_response_error(mock: MockAgent) -> None:
    mock.behave("/garbage", Behaviour(text="<html>oops</html>"))
    with pytest.raises(AgentResponseError, match=r"not JSON.*<html>oops"):
        await ask(f"{mock.url}/garbage")


# --- templating -----------------------------------------------------------------------


async def test_body_template_fills_every_placeholder(mock: MockAgent) -> None:
    conversation = TestCase(
        name="chat",
        input=[
            Message(role="user", content="Hi"),
            Message(role="assistant", content="Hello!"),
            Message(role="user", content="Refund?"),
        ],
        expected="30 days",
        vars={"n": 3, "user": {"tier": "gold"}},
    )
    body = {
        "message": "{{input}}",
        "history": "{{ messages }}",
        "meta": {"count": "{{vars.n}}", "tier": "{{vars.user.tier}}", "ref": "{{expected}}"},
        "prompt": ["Answer {{input}} in {{vars.n}} lines"],
        "fixed": 1.5,
    }
    await ask(mock.url, conversation, body=body)
    assert mock.requests[0].body == {
        "message": "Refund?",
        "history": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Refund?"},
        ],
        "meta": {"count": 3, "tier": "gold", "ref": "30 days"},
        "prompt": ["Answer Refund? in 3 lines"],
        "fixed": 1.5,
    }


async def test_missing_var_names_the_var(mock: MockAgent) -> None:
    with pytest.raises(AgentError, match=r"\{\{vars\.city\}\}.*'refund'"):
        await ask(mock.url, body={"q": "{{vars.city}}"})
    assert mock.requests == []


async def test_env_in_headers_and_url_is_read_at_call_time(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = HTTPAgent(
        HTTPAgentConfig(
            url=mock.url + "/${env:AGENT_PATH}",
            headers={"Authorization": "Bearer ${env:AGENT_TOKEN}", "X-Team": "qa"},
        ),
        policy=LOCAL,
        env=AGENT_ENV,
    )
    try:
        monkeypatch.setenv("AGENT_TOKEN", "first-secret")
        monkeypatch.setenv("AGENT_PATH", "v1")
        await agent.respond(CASE, timeout=5)
        monkeypatch.setenv("AGENT_TOKEN", "rotated-secret")
        await agent.respond(CASE, timeout=5)
    finally:
        await agent.aclose()
    assert [r.headers["Authorization"] for r in mock.requests] == [
        "Bearer first-secret",
        "Bearer rotated-secret",
    ]
    assert mock.requests[0].headers["X-Team"] == "qa"
    assert mock.requests[0].path == "/v1"


async def test_missing_env_names_the_variable(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENT_TOKEN_UNSET", raising=False)
    with pytest.raises(AgentError, match="AGENT_TOKEN_UNSET, which is not set"):
        await ask(mock.url, headers={"Authorization": "Bearer ${env:AGENT_TOKEN_UNSET}"})
    assert mock.requests == []


PLACES = [
    ({"url": "{base}/${env:NAME}"}, "URL"),
    ({"url": "{base}", "headers": {"X-A": "Bearer ${env:NAME}"}}, "header 'X-A'"),
    ({"url": "{base}", "body": {"a": [{"b": "x ${env:NAME}"}]}}, "body"),
]


@pytest.mark.parametrize(("config", "where"), PLACES)
async def test_a_name_the_policy_does_not_allow_stops_the_call_before_sending(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], where: str
) -> None:
    monkeypatch.setenv("OTHER_TOKEN", "value-that-must-stay-home")
    filled = config | {"url": config["url"].replace("{base}", mock.url)}
    filled = json.loads(json.dumps(filled).replace("${env:NAME}", "${env:OTHER_TOKEN}"))
    with pytest.raises(AgentError, match=f"The agent's {where} reads") as refused:
        await ask(**filled)
    assert "AIFACTORY_AGENT_ENV does not allow" in str(refused.value)
    assert "value-that-must-stay-home" not in str(refused.value)
    assert mock.requests == []


@pytest.mark.parametrize("name", ["AIFACTORY_API_KEYS", "DATABASE_URL", "OPENAI_API_KEY"])
@pytest.mark.parametrize(("config", "where"), PLACES)
async def test_the_servers_own_settings_are_never_read_even_under_a_wildcard(
    mock: MockAgent,
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, Any],
    where: str,
    name: str,
) -> None:
    monkeypatch.setenv(name, "value-that-must-stay-home")
    filled = config | {"url": config["url"].replace("{base}", mock.url)}
    filled = json.loads(json.dumps(filled).replace("${env:NAME}", f"${{env:{name}}}"))
    agent = HTTPAgent(HTTPAgentConfig(**filled), policy=LOCAL, env=EnvPolicy(["*"]))
    try:
        with pytest.raises(AgentError, match="one of the server's own settings") as refused:
            await agent.respond(CASE, timeout=5)
    finally:
        await agent.aclose()
    assert f"The agent's {where} reads" in str(refused.value)
    assert "value-that-must-stay-home" not in str(refused.value)
    assert mock.requests == []


async def test_a_case_value_is_never_read_as_an_env_reference(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "tok")
    case = TestCase(name="sneaky", input="${env:AGENT_TOKEN}", vars={"v": "${env:AGENT_TOKEN}"})
    await ask(f"{mock.url}/q?v={{{{vars.v}}}}", case, body={"q": "{{input}}", "w": "{{vars.v}}"})
    request = mock.requests[0]
    assert request.body == {"q": "${env:AGENT_TOKEN}", "w": "${env:AGENT_TOKEN}"}
    assert request.query == {"v": "${env:AGENT_TOKEN}"}


async def test_get_sends_no_body_and_fills_the_url(mock: MockAgent) -> None:
    reply = await ask(mock.url + "/search?q={{input}}&n={{vars.n}}", method="GET")
    assert reply.output == "echo: "
    request = mock.requests[0]
    assert (request.method, request.body) == ("GET", None)
    assert request.query == {"q": "Can I get a refund?", "n": "3"}


# --- output_path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "path", "expected"),
    [
        ({"reply": {"text": "plain"}}, "reply.text", "plain"),
        (
            {"choices": [{"message": {"content": "openai-like"}}]},
            "choices.0.message.content",
            "openai-like",
        ),
        ({"data": [{"text": "bracketed"}]}, "data[0].text", "bracketed"),
        ({"data": [{"text": "dollar"}]}, "$.data[0].text", "dollar"),
        ({"answer": {"items": [1, 2]}}, "answer", '{"items": [1, 2]}'),
        ({"score": 7}, "score", "7"),
    ],
)
async def test_output_path_extracts_the_output(
    mock: MockAgent, shape: Any, path: str, expected: str
) -> None:
    mock.behave("/shaped", Behaviour(json_body=shape))
    reply = await ask(f"{mock.url}/shaped", output_path=path)
    assert reply.output == expected


async def test_output_path_reads_openai_usage(mock: MockAgent) -> None:
    shape = {
        "choices": [{"message": {"content": "hi"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    }
    mock.behave("/chat", Behaviour(json_body=shape))
    reply = await ask(f"{mock.url}/chat", output_path="choices.0.message.content")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (9, 4)


async def test_missing_output_path_names_the_path(mock: MockAgent) -> None:
    mock.behave("/shaped", Behaviour(json_body={"choices": []}))
    with pytest.raises(AgentResponseError, match=r"output_path 'choices\.0\.message\.content'"):
        await ask(f"{mock.url}/shaped", output_path="choices.0.message.content")


# --- failures -------------------------------------------------------------------------


async def test_hanging_agent_times_out_at_the_engine_limit(mock: MockAgent) -> None:
    # The agent never answers: only the 0.2 s limit ends the call (the guard fails the test
    # instead of hanging it when the limit does not hold).
    mock.behave("/hang", Behaviour(hang=True))
    with pytest.raises(AgentTimeout, match=r"0\.2 s"):
        await asyncio.wait_for(ask(f"{mock.url}/hang", timeout=0.2), 60)


async def test_config_timeout_wins_when_smaller(mock: MockAgent) -> None:
    mock.behave("/slow", Behaviour(latency_s=2))
    with pytest.raises(AgentTimeout, match=r"0\.1 s"):
        await ask(f"{mock.url}/slow", timeout=30, timeout_s=0.1)


async def test_non_2xx_is_an_http_error_with_an_excerpt(mock: MockAgent) -> None:
    mock.behave("/down", Behaviour(status=503, text="upstream overloaded"))
    with pytest.raises(AgentHTTPError, match="HTTP 503: 'upstream overloaded'") as raised:
        await ask(f"{mock.url}/down")
    assert raised.value.status == 503


async def test_secrets_never_appear_in_errors(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "s3cr3t-value")
    mock.behave("/echo-auth", Behaviour(status=401, text="bad token s3cr3t-value"))
    with pytest.raises(AgentHTTPError) as raised:
        await ask(f"{mock.url}/echo-auth", headers={"Authorization": "Bearer ${env:AGENT_TOKEN}"})
    assert "s3cr3t-value" not in str(raised.value)
    assert "********" in str(raised.value)


@pytest.mark.parametrize("chunked", [True, False])
async def test_huge_answer_is_refused(mock: MockAgent, chunked: bool) -> None:
    size = MAX_RESPONSE_BYTES + 1024
    behaviour = Behaviour(huge_bytes=size) if chunked else Behaviour(text="x" * size)
    mock.behave("/huge", behaviour)
    with pytest.raises(AgentResponseError, match="larger than 10 MiB"):
        await ask(f"{mock.url}/huge")


async def test_unreachable_agent_is_an_agent_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AgentError, match="could not be reached"):
        await ask(f"http://127.0.0.1:{port}/")


# --- redirects ------------------------------------------------------------------------


def chain(mock: MockAgent, hops: int) -> str:
    for index in range(hops):
        target = f"/hop{index + 1}" if index + 1 < hops else "/final"
        mock.behave(f"/hop{index}", Behaviour(redirect_to=target, redirect_status=307))
    mock.behave("/final", Behaviour(output="arrived"))
    return f"{mock.url}/hop0"


async def test_three_redirects_are_followed(mock: MockAgent) -> None:
    reply = await ask(chain(mock, 3))
    assert reply.output == "arrived"
    assert [r.path for r in mock.requests] == ["/hop0", "/hop1", "/hop2", "/final"]
    # 307 keeps the method and the body.
    assert all(r.body == {"input": "Can I get a refund?"} for r in mock.requests)


async def test_fourth_redirect_is_refused(mock: MockAgent) -> None:
    with pytest.raises(AgentResponseError, match="more than 3 times"):
        await ask(chain(mock, 4))
    assert "/final" not in [r.path for r in mock.requests]


async def test_303_turns_into_get_without_body(mock: MockAgent) -> None:
    mock.behave("/post", Behaviour(redirect_to="/result", redirect_status=303))
    await ask(f"{mock.url}/post")
    assert [(r.method, r.body) for r in mock.requests] == [
        ("POST", {"input": "Can I get a refund?"}),
        ("GET", None),
    ]


async def test_redirect_to_another_origin_drops_configured_headers(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "tok")
    async with start_mock_agent(host="127.0.0.2") as other:
        mock.behave("/away", Behaviour(redirect_to=f"{other.url}/there", redirect_status=307))
        agent = HTTPAgent(
            HTTPAgentConfig(
                url=f"{mock.url}/away", headers={"Authorization": "Bearer ${env:AGENT_TOKEN}"}
            ),
            policy=AddressPolicy(["127.0.0.0/8"]),
            env=AGENT_ENV,
        )
        try:
            await agent.respond(CASE, timeout=5)
        finally:
            await agent.aclose()
        assert mock.requests[0].headers["Authorization"] == "Bearer tok"
        assert "Authorization" not in other.requests[0].headers


# --- sessions and connections -----------------------------------------------------------


async def test_shared_session_is_not_closed_by_the_agent(mock: MockAgent) -> None:
    session = guarded_session(LOCAL)
    try:
        agent = HTTPAgent(HTTPAgentConfig(url=mock.url), policy=LOCAL, session=session)
        await agent.respond(CASE, timeout=5)
        await agent.aclose()
        assert not session.closed
    finally:
        await session.close()


async def test_plain_session_still_checks_hostnames(mock: MockAgent) -> None:
    async with aiohttp.ClientSession() as session:
        agent = HTTPAgent(
            HTTPAgentConfig(url=mock.url.replace("127.0.0.1", "localhost")),
            policy=AddressPolicy(),
            session=session,
        )
        with pytest.raises(BlockedAddressError):
            await agent.respond(CASE, timeout=5)
    assert mock.requests == []


async def test_connection_limit_bounds_requests_in_flight() -> None:
    async with start_mock_agent(latency_s=0.05) as server:
        agent = HTTPAgent(HTTPAgentConfig(url=server.url), policy=LOCAL, max_connections=2)
        try:
            await asyncio.gather(*(agent.respond(CASE, timeout=5) for _ in range(6)))
        finally:
            await agent.aclose()
        assert len(server.requests) == 6
        assert server.peak_in_flight == 2
