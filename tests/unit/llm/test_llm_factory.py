"""parse_model, make_client and the shared client registry."""

from __future__ import annotations

import pytest
from tests.fakes.fake_llm import FakeLLMServer, fake_llm_settings

from aifactory.domain.models import Message
from aifactory.errors import ConfigError
from aifactory.llm.anthropic import AnthropicClient
from aifactory.llm.base import LLMRequest
from aifactory.llm.factory import LLMClients, make_client, parse_model
from aifactory.llm.judge import LLMJudge, make_judge
from aifactory.llm.openai import OpenAIClient
from aifactory.settings import Settings, load_settings

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        ("openai:gpt-4o", ("openai", "gpt-4o")),
        (" OpenAI : gpt-4o ", ("openai", "gpt-4o")),
        ("openai:llama3:8b", ("openai", "llama3:8b")),
        ("claude-haiku-4-5", ("anthropic", "claude-haiku-4-5")),
        ("gpt-4.1-mini", ("openai", "gpt-4.1-mini")),
        ("o3", ("openai", "o3")),
        ("my-local-model", ("anthropic", "my-local-model")),
    ],
)
def test_parse_model(spec: str, expected: tuple[str, str]) -> None:
    assert parse_model(spec) == expected


def test_parse_model_default_provider() -> None:
    assert parse_model("my-local-model", default_provider="openai") == ("openai", "my-local-model")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("gemini:pro", "provider 'gemini', which is not known"), ("openai:", "no model name")],
)
def test_parse_model_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_model(spec)


async def test_make_client_kinds() -> None:
    settings = load_settings({}, anthropic_api_key="a", openai_api_key="o")
    anthropic_client = make_client("anthropic", settings)
    openai_client = make_client("openai", settings)
    try:
        assert isinstance(anthropic_client, AnthropicClient)
        assert isinstance(openai_client, OpenAIClient)
    finally:
        await anthropic_client.aclose()
        await openai_client.aclose()
    with pytest.raises(ConfigError, match="Known providers: anthropic, openai"):
        make_client("gemini", settings)


async def test_clients_are_shared_per_provider_key_and_url(llm_settings: Settings) -> None:
    async with LLMClients(llm_settings) as clients:
        first = clients.get("anthropic")
        assert clients.get("anthropic") is first
        assert clients.get("anthropic", api_key="another-key") is not first
        assert clients.get("openai") is not first
        assert clients.get("anthropic", api_key="another-key") is clients.get(
            "anthropic", api_key="another-key"
        )
        assert len(clients) == 3
    assert len(clients) == 0  # closed and forgotten


async def test_shared_clients_reach_the_configured_server(
    fake_llm: FakeLLMServer, llm_settings: Settings
) -> None:
    async with LLMClients(llm_settings) as clients:
        request = LLMRequest(
            model="claude-haiku-4-5", messages=[Message(role="user", content="hi")]
        )
        await clients.get("anthropic").complete(request)
        await clients.get("anthropic", api_key="per-agent-key").complete(request)
    assert [r.api_key() for r in fake_llm.requests] == ["sk-ant-test", "per-agent-key"]


async def test_make_judge_uses_the_judge_model(llm_settings: Settings) -> None:
    settings = llm_settings.model_copy(update={"judge_model": "openai:gpt-4.1-mini"})
    async with LLMClients(settings) as clients:
        judge = make_judge(settings, clients)
        assert isinstance(judge, LLMJudge)
        assert judge.model == "gpt-4.1-mini"
        assert judge.client is clients.get("openai")


async def test_make_judge_without_credentials_is_none() -> None:
    settings = load_settings({}, openai_api_key="o")  # the default judge is Anthropic's
    async with LLMClients(settings) as clients:
        assert make_judge(settings, clients) is None
        assert len(clients) == 0
    with_url = load_settings({}, anthropic_base_url="http://127.0.0.1:9")
    async with LLMClients(with_url) as clients:
        assert make_judge(with_url, clients) is not None


async def test_the_settings_key_never_goes_to_another_base_url(fake_llm: FakeLLMServer) -> None:
    hi = [Message(role="user", content="hi")]
    # Another base URL is held to the SSRF guard; loopback is allowed here to reach the fake.
    settings = fake_llm_settings(fake_llm, allowed_agent_hosts="127.0.0.1")
    async with FakeLLMServer() as elsewhere, LLMClients(settings) as clients:
        for provider, url in (
            ("anthropic", elsewhere.anthropic_base_url),
            ("openai", elsewhere.openai_base_url),
        ):
            await clients.get(provider, base_url=url).complete(LLMRequest(model="m", messages=hi))
        # The settings' own base URL, named explicitly, keeps the settings' key.
        await clients.get("openai", base_url=fake_llm.openai_base_url + "/").complete(
            LLMRequest(model="m", messages=hi)
        )
    assert [r.api_key() for r in elsewhere.requests] == ["not-needed", "not-needed"]
    assert [r.api_key() for r in fake_llm.requests] == ["sk-test"]
