"""Provider clients for an agent-chosen ``base_url`` go only where the SSRF guard allows.

The real SDKs are pointed at local fakes. ``localhost`` is a name, so only a guarded resolver
stops it; a redirect to an address literal is checked as its request starts; the operator's own
endpoint (loopback here) needs no allow-list.
"""

from __future__ import annotations

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, SleepRecorder, fake_llm_settings
from tests.fakes.mock_agent import Behaviour, start_mock_agent

from aifactory.domain.models import Message
from aifactory.errors import LLMError
from aifactory.llm.base import LLMRequest
from aifactory.llm.factory import LLMClients
from aifactory.settings import load_settings

pytest_plugins = ["tests.fakes.fixtures"]

HI = LLMRequest(model="m", messages=[Message(role="user", content="hi")])


def by_name(server: FakeLLMServer, provider: str) -> str:
    url = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url
    return url.replace("127.0.0.1", "localhost")


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_a_name_resolving_to_loopback_is_refused_before_sending(
    fake_llm: FakeLLMServer, provider: str
) -> None:
    sleeps = SleepRecorder()
    settings = load_settings({"AIFACTORY_LLM_MAX_ATTEMPTS": "3"})
    async with LLMClients(settings, sleep=sleeps) as clients:
        client = clients.get(provider, api_key="agent-own", base_url=by_name(fake_llm, provider))
        with pytest.raises(LLMError, match="loopback address") as refused:
            await client.complete(HI)
    assert "'localhost' (127.0.0.1)" in str(refused.value)
    assert "AIFACTORY_ALLOWED_AGENT_HOSTS" in str(refused.value)
    assert fake_llm.requests == []
    assert sleeps.calls == []  # refused for good: not retried


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_an_allowed_name_reaches_the_server_with_the_agents_own_key(
    fake_llm: FakeLLMServer, provider: str
) -> None:
    fake_llm.script(Reply(text="hello"))
    settings = load_settings(
        {"AIFACTORY_ALLOWED_AGENT_HOSTS": "localhost", "OPENAI_API_KEY": "sk-server"}
    )
    async with LLMClients(settings) as clients:
        client = clients.get(provider, api_key="agent-own", base_url=by_name(fake_llm, provider))
        assert (await client.complete(HI)).text == "hello"
    assert [r.api_key() for r in fake_llm.requests] == ["agent-own"]


async def test_a_redirect_to_a_refused_literal_is_not_followed() -> None:
    async with (
        start_mock_agent(host="127.0.0.2") as canary,
        start_mock_agent() as gateway,
    ):
        gateway.behave(
            "/v1/chat/completions",
            Behaviour(redirect_to=f"{canary.url}/v1/chat/completions", redirect_status=307),
        )
        settings = load_settings(
            {"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1", "AIFACTORY_LLM_MAX_ATTEMPTS": "1"}
        )
        async with LLMClients(settings) as clients:
            client = clients.get("openai", api_key="agent-own", base_url=f"{gateway.url}/v1")
            with pytest.raises(LLMError, match=r"'127\.0\.0\.2' is a loopback address"):
                await client.complete(HI)
    assert [r.path for r in gateway.requests] == ["/v1/chat/completions"]
    assert canary.requests == []


async def test_the_operators_own_endpoint_needs_no_allow_list(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="one"), Reply(text="two"))
    settings = fake_llm_settings(fake_llm)
    assert settings.allowed_agent_hosts == ""
    async with LLMClients(settings) as clients:
        # Named by default, or explicitly by an agent: either way the server's own endpoint.
        assert (await clients.get("openai").complete(HI)).text == "one"
        explicit = clients.get("openai", base_url=fake_llm.openai_base_url + "/")
        assert (await explicit.complete(HI)).text == "two"
    assert [r.api_key() for r in fake_llm.requests] == ["sk-test", "sk-test"]
