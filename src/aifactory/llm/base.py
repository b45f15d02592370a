"""The provider-neutral shape of a model call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aifactory.domain.models import Message, Usage


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One chat completion request."""

    model: str
    messages: list[Message]
    system: str = ""
    max_tokens: int = 1024
    temperature: float = 0.0
    output_schema: dict[str, Any] | None = None
    """When set, ask for structured output matching this JSON schema (tool or JSON mode)."""
    output_name: str = "verdict"


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """A provider's answer, normalised."""

    text: str
    structured: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class LLMClient(Protocol):
    """A provider client with our retry policy, limits, usage and cost."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Run ``request``; raise :class:`LLMError` once the retry policy gives up."""
        ...

    async def aclose(self) -> None: ...
