"""Our retry policy for provider calls: exponential backoff with full jitter.

The SDKs' own retries are turned off (``max_retries=0``) so that one policy, with our settings,
our limits and our errors, governs every provider. A failed attempt is *classified* by the
provider client into a :class:`Failure`; rate limits (429), overload (529), server errors
(5xx), timeouts and dropped connections are retried, anything else is not. When the policy
gives up it raises :class:`LLMRateLimited`, :class:`LLMTimeout` or :class:`LLMError`, chained
to the vendor's exception.

The wait before the next attempt is what the provider asked for (``retry-after-ms``, then
``retry-after`` in seconds or as an HTTP date), else ``uniform(0, min(max, base * 2**n))``
("full jitter", which spreads a burst of clients out better than plain exponential backoff);
it is never longer than ``AIFACTORY_LLM_BACKOFF_MAX_S``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, TypeVar

import aiohttp

from aifactory.errors import BlockedAddressError, LLMError, LLMRateLimited, LLMTimeout

if TYPE_CHECKING:
    from aifactory.llm.concurrency import AdaptiveLimiter
    from aifactory.settings import Settings

T = TypeVar("T")

FailureKind = Literal["rate_limited", "overloaded", "server", "timeout", "connection", "fatal"]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong in one attempt, in provider-neutral terms."""

    kind: FailureKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    """How long the provider asked us to wait, when it said so."""

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed."""
        return self.kind != "fatal"

    @property
    def backpressure(self) -> bool:
        """Whether the provider asked us to slow down (the limiter shrinks on these)."""
        return self.kind in ("rate_limited", "overloaded")


Classifier = Callable[[BaseException], Failure | None]
"""Turns a vendor exception into a :class:`Failure`; ``None`` means "not a provider failure"."""


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after``; None when absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_status(status: int, headers: Mapping[str, str], message: str) -> Failure:
    """Classify an HTTP error answer by its status code."""
    retry_after = parse_retry_after(headers)
    if status == 429:
        return Failure("rate_limited", message, status, retry_after)
    if status == 529:
        return Failure("overloaded", message, status, retry_after)
    if status == 408:
        return Failure("timeout", message, status, retry_after)
    if status >= 500:
        return Failure("server", message, status, retry_after)
    return Failure("fatal", message, status)


@dataclass(slots=True)
class RetryPolicy:
    """How often and how patiently a provider call is tried.

    Attributes:
        max_attempts: attempts in all, the first one included.
        backoff_base_s: the first backoff ceiling; it doubles per failed attempt.
        backoff_max_s: no wait is ever longer, whatever the provider asks.
        timeout_s: a time limit per attempt, enforced here as well as by the SDK (an answer
            that trickles in byte by byte never trips a read timeout).
        sleep: how to wait; tests inject a recorder.
        jitter: returns a number in [0, 1); tests inject a constant.
    """

    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float | None = None
    sleep: Sleep = field(default=asyncio.sleep)
    jitter: Callable[[], float] = field(default=random.random)

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Sleep | None = None) -> RetryPolicy:
        """The policy the settings ask for (``AIFACTORY_LLM_*``)."""
        return cls(
            max_attempts=settings.llm_max_attempts,
            backoff_base_s=settings.llm_backoff_base_s,
            backoff_max_s=settings.llm_backoff_max_s,
            timeout_s=settings.llm_timeout_s,
            sleep=sleep or asyncio.sleep,
        )

    def delay(self, failure: Failure, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failure."""
        if failure.retry_after_s is not None:
            return min(failure.retry_after_s, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (failed_attempts - 1))
        return self.jitter() * ceiling

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        classify: Classifier,
        *,
        limiter: AdaptiveLimiter | None = None,
        what: str = "The model call",
    ) -> T:
        """Run ``call`` until it succeeds or the policy gives up.

        Args:
            call: one attempt; it is called again for every retry.
            classify: turns the attempt's exception into a :class:`Failure`.
            limiter: when given, every attempt holds one of its slots and reports to it.
            what: names the call in error messages ("Anthropic model 'x'").

        Raises:
            LLMRateLimited: the provider still answered 429 (or 529) on the last attempt.
            LLMTimeout: the last attempt timed out.
            LLMError: any other failure, at once when it is not worth retrying.
        """
        failed = 0
        while True:
            ticket = None
            try:
                if limiter is None:
                    return await self._attempt(call)
                async with limiter.slot() as ticket:
                    result = await self._attempt(call)
                await limiter.on_success()
                return result
            except Exception as exc:
                failure = (
                    Failure("timeout", "the attempt ran past its time limit")
                    if isinstance(exc, TimeoutError)
                    else classify(exc)
                )
                if failure is None:
                    raise
                failed += 1
                if limiter is not None and ticket is not None and failure.backpressure:
                    await limiter.on_rate_limited(ticket)
                if not failure.retryable or failed >= self.max_attempts:
                    raise self._give_up(failure, failed, what) from exc
            await self.sleep(self.delay(failure, failed))

    async def _attempt(self, call: Callable[[], Awaitable[T]]) -> T:
        if self.timeout_s is None:
            return await call()
        async with asyncio.timeout(self.timeout_s):
            return await call()

    def _give_up(self, failure: Failure, attempts: int, what: str) -> LLMError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if failure.kind in ("rate_limited", "overloaded"):
            state = "rate limited" if failure.kind == "rate_limited" else "overloaded"
            return LLMRateLimited(
                f"{what} was still {state} "
                f"(HTTP {failure.status}) after {tries}: {failure.message} Lower the concurrency, "
                "or raise AIFACTORY_LLM_MAX_ATTEMPTS to wait longer."
            )
        if failure.kind == "timeout":
            limit = f" within {self.timeout_s:g} s" if self.timeout_s is not None else ""
            return LLMTimeout(
                f"{what} did not answer{limit} ({tries}). Raise AIFACTORY_LLM_TIMEOUT_S "
                "or check the provider's status."
            )
        if failure.kind == "fatal":
            status = f" (HTTP {failure.status})" if failure.status is not None else ""
            return LLMError(f"{what} failed{status}: {failure.message}")
        status = f" (HTTP {failure.status})" if failure.status is not None else ""
        return LLMError(
            f"{what} failed{status} after {tries}: {failure.message} "
            "Check the provider's status, or raise AIFACTORY_LLM_MAX_ATTEMPTS."
        )


def sdk_classifier(
    provider: str,
    *,
    status_error: type[BaseException],
    timeout_error: type[BaseException],
    connection_error: type[BaseException],
    sdk_error: type[BaseException],
) -> Classifier:
    """A :data:`Classifier` for the official SDKs (they share one exception design).

    Args:
        provider: names the provider in messages ("Anthropic").
        status_error: the SDK's error for a 4xx/5xx answer (has ``status_code``, ``response``).
        timeout_error: the SDK's timeout error (checked before ``connection_error``).
        connection_error: the SDK's error for a connection that failed or dropped.
        sdk_error: the SDK's base error; anything else from the SDK is not retried.
    """

    def classify(exc: BaseException) -> Failure | None:
        blocked = _cause(exc, BlockedAddressError)
        if blocked is not None:
            # The SSRF guard refused the endpoint before anything was sent; it will again.
            return Failure("fatal", str(blocked))
        if isinstance(exc, status_error):
            response = getattr(exc, "response", None)
            headers = dict(response.headers) if response is not None else {}
            status = int(getattr(exc, "status_code", 0))
            detail = getattr(exc, "api_message", None) or getattr(exc, "message", str(exc))
            return classify_status(status, headers, _advice(provider, status, str(detail)))
        if isinstance(exc, timeout_error) and not _dropped(exc):
            return Failure("timeout", f"{provider} did not answer in time.")
        if isinstance(exc, timeout_error):
            # The SDK's aiohttp transport reports some dropped connections as timeouts.
            return Failure("connection", f"the connection to {provider} dropped.")
        if isinstance(exc, connection_error):
            return Failure("connection", f"the connection to {provider} failed or dropped.")
        if isinstance(exc, ValueError | sdk_error):
            # A 200 whose body is not the API's JSON (a proxy's error page, say).
            return Failure(
                "fatal",
                f"{provider} answered something that is not its API's JSON ({exc}). "
                "Check the base URL points at the provider's API.",
            )
        if isinstance(exc, TypeError) and "authentication" in str(exc):
            return Failure("fatal", f"no {provider} credentials are configured ({exc}).")
        return None

    return classify


E = TypeVar("E", bound=BaseException)


def _cause(exc: BaseException, kind: type[E] | tuple[type[E], ...]) -> E | None:
    """The first exception of ``kind`` in ``exc``'s chain (the SDKs wrap transport errors)."""
    seen: BaseException | None = exc
    for _ in range(10):  # the chain is short; the bound guards against cycles
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _dropped(exc: BaseException) -> bool:
    return _cause(exc, (ConnectionError, aiohttp.ServerDisconnectedError)) is not None


def _advice(provider: str, status: int, detail: str) -> str:
    detail = detail.rstrip(".") + "."
    if status == 401:
        return f"{detail} Check the {provider} API key."
    if status == 403:
        return f"{detail} The {provider} API key is not allowed to do this."
    if status == 404:
        return f"{detail} Check the model name and the base URL."
    return detail
