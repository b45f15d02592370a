"""What every provider client shares: retry policy, limiter, prices, and building from settings."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar, Self

from aifactory.llm.concurrency import AdaptiveLimiter
from aifactory.llm.pricing import PriceTable
from aifactory.llm.retry import RetryPolicy, Sleep
from aifactory.llm.transport import SessionFactory

if TYPE_CHECKING:
    from aifactory.settings import Settings


class ProviderClient:
    """Base of the provider clients; subclasses make their SDK in ``__init__``.

    Args:
        retry: our retry policy (the SDK's own retries are off).
        limiter: the adaptive concurrency limit for this provider and key.
        prices: how usage becomes cost.
    """

    provider: ClassVar[str]

    def __init__(self, *, retry: RetryPolicy, limiter: AdaptiveLimiter, prices: PriceTable) -> None:
        self._retry = retry
        self._limiter = limiter
        self._prices = prices

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        limiter: AdaptiveLimiter | None = None,
        sleep: Sleep | None = None,
    ) -> Self:
        """A client configured by ``settings``; explicit ``api_key``/``base_url`` win.

        The settings' key is not sent to an explicit base URL other than the settings' own, and
        such a URL is reached only through the SSRF guard (``AIFACTORY_ALLOWED_AGENT_HOSTS``):
        its host is resolved, checked and pinned at every connection.
        """
        from aifactory.llm.factory import is_foreign_endpoint, resolve_endpoint

        session: SessionFactory | None = None
        if is_foreign_endpoint(cls.provider, settings, base_url):
            from aifactory.agents.http import guarded_session
            from aifactory.agents.ssrf import AddressPolicy

            session = partial(guarded_session, AddressPolicy(settings.allowed_hosts()))
        api_key, base_url = resolve_endpoint(
            cls.provider, settings, api_key=api_key, base_url=base_url
        )
        return cls(
            api_key=api_key,  # type: ignore[call-arg]
            base_url=base_url,
            retry=RetryPolicy.from_settings(settings, sleep=sleep),
            limiter=limiter or AdaptiveLimiter(cls.provider, settings.llm_max_concurrency),
            prices=PriceTable.from_settings(settings),
            timeout_s=settings.llm_timeout_s,
            session=session,
        )

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The concurrency limiter this client obeys."""
        return self._limiter
