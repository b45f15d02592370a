"""Build the agent an :class:`AgentSpec` describes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aifactory.agents.base import Agent
from aifactory.agents.env import EnvPolicy
from aifactory.agents.http import HTTPAgent
from aifactory.agents.llm import LLMAgent
from aifactory.agents.scripted import ScriptedAgent
from aifactory.agents.ssrf import AddressPolicy
from aifactory.agents.templating import resolve_env
from aifactory.domain.agent_config import (
    HTTPAgentConfig,
    LLMAgentConfig,
    ScriptedAgentConfig,
    parse_agent_config,
)
from aifactory.domain.models import AgentSpec
from aifactory.errors import ConfigError
from aifactory.llm.base import LLMClient, LLMRequest, LLMResponse
from aifactory.settings import Settings

if TYPE_CHECKING:
    import aiohttp


class LLMClientSource(Protocol):
    """Where llm agents get their provider clients (``aifactory.llm.factory.LLMClients``)."""

    def get(
        self, provider: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> LLMClient: ...

    async def aclose(self) -> None: ...


def build_agent(
    spec: AgentSpec,
    settings: Settings,
    *,
    clients: LLMClientSource | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Agent:
    """The agent for ``spec``.

    Args:
        spec: The agent's kind and config.
        settings: Gives the SSRF allowlist, the environment variables configs may read
            (``AIFACTORY_AGENT_ENV``) and the provider settings.
        clients: Provider clients to share among llm agents. Without it an llm agent makes
            its own and closes them in ``aclose()``.
        session: An aiohttp session to share among http agents, best made by
            :func:`aifactory.agents.http.guarded_session`; without it each http agent makes one.

    Raises:
        ConfigError: The config is not valid for its kind, or an llm agent names its own
            ``base_url`` without its own ``api_key``.
        BlockedAddressError: An llm agent's ``base_url`` is a refused address literal.

    An ``${env:NAME}`` that is not allowed (or not set) is no error here: it is read at every
    call, where it fails that call before anything is sent.
    """
    config = parse_agent_config(spec.kind, spec.config)
    if isinstance(config, ScriptedAgentConfig):
        return ScriptedAgent(config)
    env = EnvPolicy.from_settings(settings)
    if isinstance(config, HTTPAgentConfig):
        return HTTPAgent(
            config,
            policy=AddressPolicy(settings.allowed_hosts()),
            env=env,
            session=session,
            max_connections=spec.max_concurrency,
        )
    assert isinstance(config, LLMAgentConfig)
    _check_base_url(config, settings, has_own_key=bool(config.api_key))
    owned = None
    if clients is None:
        from aifactory.llm.factory import LLMClients

        clients = owned = LLMClients(settings)
    client: LLMClient
    if config.api_key and "${env:" in config.api_key:
        client = _KeyFromEnv(clients, config, env)
    else:
        client = clients.get(config.provider, api_key=config.api_key, base_url=config.base_url)
    return LLMAgent(config, client, on_close=owned.aclose if owned is not None else None)


class _KeyFromEnv:
    """An llm agent's client whose ``api_key`` is read from the environment at every call."""

    def __init__(self, clients: LLMClientSource, config: LLMAgentConfig, env: EnvPolicy) -> None:
        self._clients = clients
        self._config = config
        self._env = env

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Read the key (an :class:`AgentError` when it is refused), then call the provider."""
        config = self._config
        assert config.api_key is not None
        api_key = resolve_env(config.api_key, self._env, where="api_key")
        client = self._clients.get(config.provider, api_key=api_key, base_url=config.base_url)
        return await client.complete(request)

    async def aclose(self) -> None:
        """The clients belong to their source."""


def _check_base_url(config: LLMAgentConfig, settings: Settings, *, has_own_key: bool) -> None:
    """Keep an agent-chosen ``base_url`` from reaching inside, or from receiving our key."""
    if not config.base_url:
        return
    configured = (
        settings.anthropic_base_url if config.provider == "anthropic" else settings.openai_base_url
    )
    if configured and config.base_url.rstrip("/") == configured.rstrip("/"):
        return
    AddressPolicy(settings.allowed_hosts()).check_literal_url(config.base_url)
    if not has_own_key:
        # Otherwise the server's provider key would be sent to whatever URL the agent names.
        raise ConfigError(
            f"The llm agent sets its own base_url {config.base_url!r} but no api_key; give it "
            "an api_key (a placeholder for servers that need none, or ${env:NAME}), since the "
            "server's provider key is never sent to an agent-chosen URL."
        )
