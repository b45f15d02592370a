"""An agent that is a system prompt on a model: one provider call per test case."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aifactory.domain.agent_config import LLMAgentConfig
from aifactory.domain.models import AgentReply, Message, TestCase, ToolCall
from aifactory.errors import AgentError, AgentTimeout, LLMError, LLMTimeout
from aifactory.llm.base import LLMClient, LLMRequest


def _tool_call(raw: dict[str, Any]) -> ToolCall | None:
    """A provider's tool call as a :class:`ToolCall`; arguments may be named or JSON text."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    args: Any = raw.get("args", raw.get("input", raw.get("arguments", {})))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            args = {"_raw": args}
    if not isinstance(args, dict):
        args = {"_value": args}
    return ToolCall(name=name, args=args)


class LLMAgent:
    """Sends each case to a model with the agent's system prompt.

    The case's conversation (or its single input) is the message list; system turns inside it
    are appended to the agent's system prompt, since providers take one system prompt.

    Args:
        config: Model, system prompt, temperature and token limit.
        client: The provider client (shared; the agent does not close it).
        on_close: Called by :meth:`aclose`, for an agent that owns its client's resources.
    """

    def __init__(
        self,
        config: LLMAgentConfig,
        client: LLMClient,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        self._client = client
        self._on_close = on_close

    def request_for(self, case: TestCase) -> LLMRequest:
        """The provider request for ``case``."""
        config = self._config
        system_parts = [config.system_prompt] if config.system_prompt else []
        turns: list[Message] = []
        for message in case.messages():
            if message.role == "system":
                system_parts.append(message.content)
            else:
                turns.append(message)
        if not turns:
            raise AgentError(
                f"Test case {case.name!r} has only system messages; add a user message."
            )
        return LLMRequest(
            model=config.model,
            messages=turns,
            system="\n\n".join(system_parts),
            max_tokens=config.max_tokens,
            temperature=config.temperature,
        )

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Ask the model; raise :class:`AgentTimeout` past ``timeout`` seconds.

        Raises:
            AgentTimeout: The model did not answer in time.
            AgentError: The provider call failed after its retries.
        """
        request = self.request_for(case)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.complete(request)
        except (TimeoutError, LLMTimeout) as exc:
            raise AgentTimeout(
                f"The model {self._config.model!r} did not answer within {timeout:g} s."
            ) from exc
        except LLMError as exc:
            raise AgentError(f"The model {self._config.model!r} could not answer: {exc}") from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        tool_calls = [call for raw in response.tool_calls if (call := _tool_call(raw))]
        return AgentReply(
            output=response.text,
            tool_calls=tool_calls,
            usage=response.usage,
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        """Release what the agent owns (not a shared client)."""
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()
