"""The Anthropic Messages API client, through the official ``anthropic`` SDK (aiohttp transport).

Structured output uses a tool: the request's ``output_schema`` becomes the only tool and
``tool_choice`` forces it, so the model answers with the tool's input, which is returned as
:attr:`LLMResponse.structured`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from aifactory.domain.models import Usage
from aifactory.llm.base import LLMRequest, LLMResponse
from aifactory.llm.concurrency import AdaptiveLimiter
from aifactory.llm.pricing import PriceTable, cost_of
from aifactory.llm.provider import ProviderClient
from aifactory.llm.retry import RetryPolicy, sdk_classifier
from aifactory.llm.transport import SessionFactory, aiohttp_client

log = logging.getLogger(__name__)

_classify = sdk_classifier(
    "Anthropic",
    status_error=anthropic.APIStatusError,
    timeout_error=anthropic.APITimeoutError,
    connection_error=anthropic.APIConnectionError,
    sdk_error=anthropic.AnthropicError,
)

# Models Anthropic has deprecated, and the day each is retired
# (https://docs.anthropic.com/en/docs/resources/model-deprecations). Our own list: the SDK's is
# private and changes from release to release. The first call with one in a process logs a
# warning naming the model and the day (a retired model's calls fail with the API's own error).
DEPRECATED_MODELS: Mapping[str, str] = {
    "claude-2.0": "July 21st, 2025",
    "claude-2.1": "July 21st, 2025",
    "claude-3-sonnet-20240229": "July 21st, 2025",
    "claude-3-5-sonnet-20240620": "October 22nd, 2025",
    "claude-3-5-sonnet-20241022": "October 22nd, 2025",
    "claude-3-opus-20240229": "January 5th, 2026",
    "claude-3-opus-latest": "January 5th, 2026",
    "claude-3-7-sonnet-20250219": "February 19th, 2026",
    "claude-3-7-sonnet-latest": "February 19th, 2026",
    "claude-3-5-haiku-20241022": "February 19th, 2026",
    "claude-3-5-haiku-latest": "February 19th, 2026",
    "claude-3-haiku-20240307": "April 20th, 2026",
    "claude-opus-4-5": "January 22nd, 2027",
    "claude-opus-4-5-20251101": "January 22nd, 2027",
}

_warned_models: set[str] = set()


class AnthropicClient(ProviderClient):
    """An :class:`~aifactory.llm.base.LLMClient` for Anthropic models.

    Args:
        api_key: the API key; None lets the SDK find one (``ANTHROPIC_API_KEY``, a profile).
        base_url: another endpoint; None lets the SDK decide (``ANTHROPIC_BASE_URL``).
        retry: our retry policy (the SDK's own retries are off).
        limiter: the adaptive concurrency limit for this provider and key.
        prices: how usage becomes cost.
        timeout_s: the SDK's time limit per attempt.
        session: makes the aiohttp session requests go through (the SSRF guard's, for an
            agent-chosen ``base_url``); None keeps the SDK's own.
    """

    provider = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
        prices: PriceTable,
        timeout_s: float,
        session: SessionFactory | None = None,
    ) -> None:
        if api_key is None and base_url is not None:
            # A self-hosted endpoint may need no key, but the SDK insists on one.
            api_key = "not-needed"
        self._sdk = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s,
            http_client=aiohttp_client(anthropic, session),
        )
        super().__init__(retry=retry, limiter=limiter, prices=prices)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Run ``request``; raise :class:`~aifactory.errors.LLMError` once retries give up."""
        body = self._body(request)
        retired_on = DEPRECATED_MODELS.get(request.model)
        if retired_on is not None and request.model not in _warned_models:
            _warned_models.add(request.model)
            log.warning(
                "Anthropic model %r is deprecated (end of life %s); choose a newer one.",
                request.model,
                retired_on,
            )

        async def attempt() -> AnthropicMessage:
            # ``post`` rather than ``messages.create``: the same request, response parsing and
            # errors, without the SDK's DeprecationWarning for the models its own private list
            # names (we log ours once instead, above).
            return await self._sdk.post("/v1/messages", body=body, cast_to=AnthropicMessage)

        message = await self._retry.run(
            attempt,
            _classify,
            limiter=self._limiter,
            what=f"Anthropic model {request.model!r}",
        )
        return self._response(request, message)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._sdk.close()

    @staticmethod
    def _body(request: LLMRequest) -> dict[str, Any]:
        # The Messages API takes the system prompt apart from the turns.
        system = [request.system] if request.system else []
        system += [m.content for m in request.messages if m.role == "system"]
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.output_schema is not None:
            body["tools"] = [
                {
                    "name": request.output_name,
                    "description": "Record your answer. Always answer by calling this tool.",
                    "input_schema": request.output_schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": request.output_name}
        return body

    def _response(self, request: LLMRequest, message: AnthropicMessage) -> LLMResponse:
        texts: list[str] = []
        structured: dict[str, Any] | None = None
        tool_calls: list[dict[str, Any]] = []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                args = dict(block.input) if isinstance(block.input, dict) else {}
                if request.output_schema is not None and block.name == request.output_name:
                    structured = args
                else:
                    tool_calls.append({"name": block.name, "args": args})
        model = message.model or request.model
        usage = Usage(
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            cost_usd=cost_of(
                self._prices,
                (model, request.model),
                message.usage.input_tokens,
                message.usage.output_tokens,
            ),
        )
        return LLMResponse(
            text="".join(texts),
            structured=structured,
            usage=usage,
            model=model,
            tool_calls=tool_calls,
        )
