"""Choosing and sharing provider clients: ``provider:model`` strings and the client registry."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from aifactory.errors import ConfigError
from aifactory.llm.base import LLMClient
from aifactory.llm.concurrency import AdaptiveLimiter, InMemoryLimiterStore, LimiterStateStore

if TYPE_CHECKING:
    from aifactory.llm.retry import Sleep
    from aifactory.settings import Settings

PROVIDERS = ("anthropic", "openai")

# Bare model names that can only mean one provider, so "gpt-4o" needs no "openai:" prefix.
_OPENAI_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4")


def parse_model(spec: str, default_provider: str = "anthropic") -> tuple[str, str]:
    """Split ``"provider:model"`` into ``(provider, model)``.

    Without a prefix the provider follows from an unmistakable model name (``claude-…`` is
    Anthropic, ``gpt-…``/``o3…`` OpenAI), else it is ``default_provider``. Everything after
    the first colon is the model, so ``openai:llama3:8b`` works for an Ollama server.

    Raises:
        ConfigError: an unknown provider or an empty model name.
    """
    spec = spec.strip()
    provider, sep, model = spec.partition(":")
    if not sep:
        model = spec
        if spec.startswith("claude"):
            provider = "anthropic"
        elif spec.startswith(_OPENAI_PREFIXES):
            provider = "openai"
        else:
            provider = default_provider
    provider, model = provider.strip().lower(), model.strip()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"Model {spec!r} names the provider {provider!r}, which is not known. "
            f"Write 'provider:model' with one of: {', '.join(PROVIDERS)}."
        )
    if not model:
        raise ConfigError(f"Model {spec!r} has no model name; write 'provider:model'.")
    return provider, model


def provider_configured(provider: str, settings: Settings) -> bool:
    """Whether ``settings`` give the provider an API key or a base URL."""
    if provider == "anthropic":
        return bool(settings.anthropic_api_key or settings.anthropic_base_url)
    if provider == "openai":
        return bool(settings.openai_api_key or settings.openai_base_url)
    return False


def is_foreign_endpoint(provider: str, settings: Settings, base_url: str | None) -> bool:
    """Whether ``base_url`` is an endpoint other than the provider's one the operator configured.

    Such an endpoint is chosen by whoever registered the agent: it never receives the server's
    provider key, and its host is held to the SSRF guard at every call.
    """
    if not base_url:
        return False
    settings_url = getattr(settings, f"{provider}_base_url", None)
    return not settings_url or base_url.rstrip("/") != settings_url.rstrip("/")


def resolve_endpoint(
    provider: str, settings: Settings, *, api_key: str | None, base_url: str | None
) -> tuple[str | None, str | None]:
    """The ``(api_key, base_url)`` a client should use: the explicit ones, else the settings'.

    The settings' key is never paired with a *different* explicit base URL: an agent that
    names its own endpoint must not receive the server's provider key.
    """
    if is_foreign_endpoint(provider, settings, base_url):
        return api_key, base_url
    settings_key = getattr(settings, f"{provider}_api_key", None)
    settings_url = getattr(settings, f"{provider}_base_url", None)
    return api_key or settings_key, base_url or settings_url


def make_client(
    provider: str,
    settings: Settings,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    limiter: AdaptiveLimiter | None = None,
    sleep: Sleep | None = None,
) -> LLMClient:
    """A new client for ``provider`` (prefer :class:`LLMClients`, which shares them).

    Args:
        provider: ``"anthropic"`` or ``"openai"``.
        settings: timeouts, retries, concurrency, prices, and the default key and base URL.
        api_key: overrides the settings' key (an agent's own key, say).
        base_url: overrides the settings' base URL.
        limiter: the concurrency limiter to obey (default: a fresh one).
        sleep: how the retry policy waits (tests inject a recorder).
    """
    if provider == "anthropic":
        from aifactory.llm.anthropic import AnthropicClient

        return AnthropicClient.from_settings(
            settings, api_key=api_key, base_url=base_url, limiter=limiter, sleep=sleep
        )
    if provider == "openai":
        from aifactory.llm.openai import OpenAIClient

        return OpenAIClient.from_settings(
            settings, api_key=api_key, base_url=base_url, limiter=limiter, sleep=sleep
        )
    raise ConfigError(
        f"LLM provider {provider!r} is not known. Known providers: {', '.join(PROVIDERS)}."
    )


class LLMClients:
    """The process's provider clients, one per (provider, API key, base URL), shared.

    Sharing matters: one client per key keeps one connection pool and one adaptive
    concurrency limit, so a burst of 429s slows every caller using that key.
    Close it (``await clients.aclose()``, or ``async with``) on shutdown.

    Args:
        settings: passed to every client.
        limiter_store: where limiter states live (default: in memory, per process).
        sleep: how retry policies wait (tests inject a recorder).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        limiter_store: LimiterStateStore | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        self._store = limiter_store or InMemoryLimiterStore()
        self._sleep = sleep
        self._clients: dict[tuple[str, str | None, str | None], LLMClient] = {}

    def get(
        self, provider: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> LLMClient:
        """The shared client for ``provider`` with this key and base URL (settings' by default)."""
        if provider not in PROVIDERS:
            raise ConfigError(
                f"LLM provider {provider!r} is not known. Known providers: {', '.join(PROVIDERS)}."
            )
        key, url = resolve_endpoint(provider, self.settings, api_key=api_key, base_url=base_url)
        ident = (provider, key, url)
        client = self._clients.get(ident)
        if client is None:
            limiter = AdaptiveLimiter(
                _limiter_key(provider, key, url),
                self.settings.llm_max_concurrency,
                store=self._store,
            )
            client = make_client(
                provider,
                self.settings,
                api_key=key,
                base_url=url,
                limiter=limiter,
                sleep=self._sleep,
            )
            self._clients[ident] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> LLMClients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _limiter_key(provider: str, api_key: str | None, base_url: str | None) -> str:
    # A shared store (Redis) must never see the raw key.
    digest = hashlib.sha256((api_key or "").encode()).hexdigest()[:16]
    return f"llm-limit:{provider}:{digest}:{base_url or 'default'}"
