"""The OpenAI Chat Completions client, through the official ``openai`` SDK (aiohttp transport).

Chat Completions is the API every OpenAI-compatible server speaks (vLLM, Ollama, LiteLLM, ...),
so ``base_url`` can point at any of them. Structured output asks for a JSON schema
(``response_format``; strict when the schema allows no extra properties); whatever the server
honours, the message content is parsed as JSON (also out of a fenced block or surrounding
prose), so servers without schema support work too.
"""

from __future__ import annotations

import re
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from aifactory.domain.models import Usage
from aifactory.llm.base import LLMRequest, LLMResponse
from aifactory.llm.concurrency import AdaptiveLimiter
from aifactory.llm.jsontext import extract_json_object
from aifactory.llm.pricing import PriceTable, cost_of
from aifactory.llm.provider import ProviderClient
from aifactory.llm.retry import RetryPolicy, sdk_classifier
from aifactory.llm.transport import SessionFactory, aiohttp_client

_classify = sdk_classifier(
    "OpenAI",
    status_error=openai.APIStatusError,
    timeout_error=openai.APITimeoutError,
    connection_error=openai.APIConnectionError,
    sdk_error=openai.OpenAIError,
)

# Reasoning models take ``max_completion_tokens`` and only their default temperature.
_REASONING = re.compile(r"^(o\d|gpt-5)")


class OpenAIClient(ProviderClient):
    """An :class:`~aifactory.llm.base.LLMClient` for OpenAI and OpenAI-compatible servers.

    Args:
        api_key: the API key; None lets the SDK read ``OPENAI_API_KEY``.
        base_url: another endpoint (``http://localhost:11434/v1``); None lets the SDK decide
            (``OPENAI_BASE_URL``).
        retry: our retry policy (the SDK's own retries are off).
        limiter: the adaptive concurrency limit for this provider and key.
        prices: how usage becomes cost.
        timeout_s: the SDK's time limit per attempt.
        session: makes the aiohttp session requests go through (the SSRF guard's, for an
            agent-chosen ``base_url``); None keeps the SDK's own.
    """

    provider = "openai"

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
        # A self-hosted server may need no key, but the SDK insists on one.
        sdk_needs_key = api_key is None and base_url is not None
        self._sdk = openai.AsyncOpenAI(
            api_key="not-needed" if sdk_needs_key else api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout_s,
            http_client=aiohttp_client(openai, session),
        )
        super().__init__(retry=retry, limiter=limiter, prices=prices)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Run ``request``; raise :class:`~aifactory.errors.LLMError` once retries give up."""
        body = self._body(request)

        async def attempt() -> ChatCompletion:
            completion: ChatCompletion = await self._sdk.chat.completions.create(**body)
            return completion

        completion = await self._retry.run(
            attempt, _classify, limiter=self._limiter, what=f"OpenAI model {request.model!r}"
        )
        return self._response(request, completion)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._sdk.close()

    @staticmethod
    def _body(request: LLMRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if _REASONING.match(request.model):
            body["max_completion_tokens"] = request.max_tokens
        else:
            body["max_tokens"] = request.max_tokens
            body["temperature"] = request.temperature
        if request.output_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.output_name,
                    "schema": request.output_schema,
                    # Strict mode rejects schemas that allow extra properties; those still
                    # get the schema as guidance, and the content is validated by the caller.
                    "strict": request.output_schema.get("additionalProperties") is False,
                },
            }
        return body

    def _response(self, request: LLMRequest, completion: ChatCompletion) -> LLMResponse:
        text = ""
        tool_calls: list[dict[str, Any]] = []
        if completion.choices:
            message = completion.choices[0].message
            text = message.content or ""
            for call in message.tool_calls or []:
                if call.type == "function":
                    tool_calls.append(
                        {
                            "name": call.function.name,
                            "args": extract_json_object(call.function.arguments) or {},
                        }
                    )
                else:
                    tool_calls.append(
                        {"name": call.custom.name, "args": {"input": call.custom.input}}
                    )
        structured = extract_json_object(text) if request.output_schema is not None else None
        model = completion.model or request.model
        if completion.usage is None:
            usage = Usage()  # some compatible servers report no usage: the cost is unknown
        else:
            input_tokens = completion.usage.prompt_tokens
            output_tokens = completion.usage.completion_tokens
            usage = Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost_of(self._prices, (model, request.model), input_tokens, output_tokens),
            )
        return LLMResponse(
            text=text, structured=structured, usage=usage, model=model, tool_calls=tool_calls
        )
