"""build_agent: the right agent for each kind, wired to settings and shared resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.fakes.mock_agent import start_mock_agent

from aifactory.agents.factory import build_agent
from aifactory.agents.http import HTTPAgent, guarded_session
from aifactory.agents.llm import LLMAgent
from aifactory.agents.scripted import ScriptedAgent
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.models import AgentSpec, TestCase
from aifactory.errors import AgentError, BlockedAddressError, ConfigError
from aifactory.llm.base import LLMClient, LLMRequest, LLMResponse
from aifactory.settings import Settings, load_settings

CASE = TestCase(name="c", input="refund please")


class EchoClient:
    async def complete(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(text=f"{request.model}: {request.messages[-1].content}")

    async def aclose(self) -> None:
        pass


@dataclass
class FakeClients:
    gets: list[dict[str, Any]] = field(default_factory=list)

    def get(
        self, provider: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> LLMClient:
        self.gets.append({"provider": provider, "api_key": api_key, "base_url": base_url})
        return EchoClient()

    async def aclose(self) -> None:
        pass


async def test_scripted_spec_builds_a_scripted_agent() -> None:
    spec = AgentSpec(
        kind="scripted", config={"responses": [{"match": "refund", "output": "30 days"}]}
    )
    agent = build_agent(spec, load_settings({}))
    assert isinstance(agent, ScriptedAgent)
    assert (await agent.respond(CASE, timeout=1)).output == "30 days"


async def test_http_spec_uses_the_settings_allowlist() -> None:
    async with start_mock_agent() as mock:
        spec = AgentSpec(kind="http", config={"url": mock.url})
        refused = build_agent(spec, load_settings({}))
        assert isinstance(refused, HTTPAgent)
        with pytest.raises(BlockedAddressError):
            await refused.respond(CASE, timeout=5)
        await refused.aclose()
        assert mock.requests == []

        allowed = build_agent(spec, load_settings({"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1"}))
        try:
            assert (await allowed.respond(CASE, timeout=5)).output == "echo: refund please"
        finally:
            await allowed.aclose()


async def test_http_spec_shares_a_given_session() -> None:
    settings = load_settings({"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1"})
    async with start_mock_agent() as mock:
        session = guarded_session(AddressPolicy(settings.allowed_hosts()))
        try:
            spec = AgentSpec(kind="http", config={"url": mock.url})
            agent = build_agent(spec, settings, session=session)
            await agent.respond(CASE, timeout=5)
            await agent.aclose()
            assert not session.closed
        finally:
            await session.close()
    assert len(mock.requests) == 1


async def test_llm_spec_gets_its_client_with_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-team")
    clients = FakeClients()
    spec = AgentSpec(
        kind="llm",
        config={"provider": "openai", "model": "gpt-test", "api_key": "${env:TEAM_OPENAI_KEY}"},
    )
    settings = load_settings({"AIFACTORY_AGENT_ENV": "TEAM_*"})
    agent = build_agent(spec, settings, clients=clients)
    assert isinstance(agent, LLMAgent)
    assert (await agent.respond(CASE, timeout=1)).output == "gpt-test: refund please"
    assert clients.gets == [{"provider": "openai", "api_key": "sk-team", "base_url": None}]
    # Read at every call: a rotated key is used at once.
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-rotated")
    await agent.respond(CASE, timeout=1)
    assert clients.gets[-1]["api_key"] == "sk-rotated"


async def test_llm_spec_with_missing_env_key_names_the_variable_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    spec = AgentSpec(
        kind="llm", config={"model": "claude-test", "api_key": "${env:NO_SUCH_KEY_VAR}"}
    )
    clients = FakeClients()
    agent = build_agent(
        spec, load_settings({"AIFACTORY_AGENT_ENV": "NO_SUCH_KEY_VAR"}), clients=clients
    )
    with pytest.raises(AgentError, match="NO_SUCH_KEY_VAR, which is not set"):
        await agent.respond(CASE, timeout=1)
    assert clients.gets == []


@pytest.mark.parametrize(
    ("allowed", "name", "why"),
    [
        ("", "TEAM_OPENAI_KEY", "AIFACTORY_AGENT_ENV does not allow"),
        ("TEAM_ANTHROPIC_KEY", "TEAM_OPENAI_KEY", "AIFACTORY_AGENT_ENV does not allow"),
        ("*", "OPENAI_API_KEY", "one of the server's own settings"),
        ("AIFACTORY_*", "AIFACTORY_API_KEYS", "one of the server's own settings"),
    ],
)
async def test_llm_spec_with_a_refused_env_key_asks_no_client(
    monkeypatch: pytest.MonkeyPatch, allowed: str, name: str, why: str
) -> None:
    monkeypatch.setenv(name, "sk-must-not-travel")
    spec = AgentSpec(
        kind="llm",
        config={"provider": "openai", "model": "gpt-test", "api_key": f"${{env:{name}}}"},
    )
    clients = FakeClients()
    agent = build_agent(spec, load_settings({"AIFACTORY_AGENT_ENV": allowed}), clients=clients)
    with pytest.raises(AgentError, match=why) as refused:
        await agent.respond(CASE, timeout=1)
    assert "sk-must-not-travel" not in str(refused.value)
    assert clients.gets == []


async def test_http_spec_reads_only_allowed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_TOKEN", "team-secret")
    async with start_mock_agent() as mock:
        spec = AgentSpec(
            kind="http",
            config={"url": mock.url, "headers": {"Authorization": "Bearer ${env:TEAM_TOKEN}"}},
        )
        hosts = {"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1"}
        refused = build_agent(spec, load_settings(hosts))
        with pytest.raises(AgentError, match="AIFACTORY_AGENT_ENV"):
            await refused.respond(CASE, timeout=5)
        await refused.aclose()
        assert mock.requests == []

        allowed = build_agent(spec, load_settings(hosts | {"AIFACTORY_AGENT_ENV": "TEAM_TOKEN"}))
        try:
            await allowed.respond(CASE, timeout=5)
        finally:
            await allowed.aclose()
    assert [r.headers["Authorization"] for r in mock.requests] == ["Bearer team-secret"]


def test_own_base_url_without_own_key_is_refused() -> None:
    # Else the server's OPENAI_API_KEY would be sent to whatever URL an agent names.
    spec = AgentSpec(
        kind="llm",
        config={"provider": "openai", "model": "m", "base_url": "https://collector.example/v1"},
    )
    clients = FakeClients()
    with pytest.raises(ConfigError, match="no api_key"):
        build_agent(spec, load_settings({"OPENAI_API_KEY": "sk-server"}), clients=clients)
    assert clients.gets == []


def test_own_base_url_at_internal_address_is_refused() -> None:
    spec = AgentSpec(
        kind="llm",
        config={
            "provider": "openai",
            "model": "m",
            "base_url": "http://169.254.169.254/v1",
            "api_key": "x",
        },
    )
    with pytest.raises(BlockedAddressError):
        build_agent(spec, load_settings({}), clients=FakeClients())


def test_settings_base_url_keeps_the_server_key() -> None:
    settings = load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    spec = AgentSpec(
        kind="llm",
        config={"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:11434/v1/"},
    )
    clients = FakeClients()
    assert isinstance(build_agent(spec, settings, clients=clients), LLMAgent)
    assert clients.gets[0]["api_key"] is None


async def test_llm_spec_without_clients_owns_and_closes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[OwnedClients] = []

    class OwnedClients(FakeClients):
        closed = False

        def __init__(self, settings: Settings) -> None:
            super().__init__()
            self.settings = settings
            made.append(self)

        async def aclose(self) -> None:
            self.closed = True

    monkeypatch.setattr("aifactory.llm.factory.LLMClients", OwnedClients)
    settings = load_settings({"OPENAI_API_KEY": "sk-test"})
    spec = AgentSpec(kind="llm", config={"provider": "openai", "model": "gpt-test"})
    agent = build_agent(spec, settings)
    assert (await agent.respond(CASE, timeout=1)).output == "gpt-test: refund please"
    [owned] = made
    assert owned.settings is settings
    assert not owned.closed
    await agent.aclose()
    assert owned.closed
