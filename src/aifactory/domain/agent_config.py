"""Typed configurations of the three agent kinds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aifactory.errors import ConfigError


class LLMAgentConfig(BaseModel):
    """A system prompt on a model of a provider."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["anthropic", "openai"] = "anthropic"
    model: str = Field(min_length=1)
    system_prompt: str = ""
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1, le=200_000)
    api_key: str | None = None
    """Optional key for this agent (``${env:NAME}`` allowed); else the provider's variable."""
    base_url: str | None = None


class HTTPAgentConfig(BaseModel):
    """An HTTP endpoint answering test inputs."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default_factory=lambda: {"input": "{{input}}"})
    output_path: str | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    session_path: str | None = None
    """In a conversation: where the agent's first reply holds its own session id (``$.a.b``),
    sent as ``{{session_id}}`` from then on."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class ScriptedRule(BaseModel):
    """A canned answer given when the input matches."""

    model_config = ConfigDict(extra="forbid")

    match: str = ""
    output: str
    regex: bool = False
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    turn: int | None = Field(default=None, ge=1)
    """Only at this turn of a conversation (1-based: the number of user messages so far)."""


class ScriptedAgentConfig(BaseModel):
    """A deterministic agent for demos and tests: first matching rule wins."""

    model_config = ConfigDict(extra="forbid")

    responses: list[ScriptedRule] = Field(default_factory=list)
    default: str = ""
    latency_ms: float = Field(default=0.0, ge=0)


AgentConfig = LLMAgentConfig | HTTPAgentConfig | ScriptedAgentConfig

_KINDS: dict[str, type[BaseModel]] = {
    "llm": LLMAgentConfig,
    "http": HTTPAgentConfig,
    "scripted": ScriptedAgentConfig,
}


def parse_agent_config(kind: str, config: dict[str, Any]) -> AgentConfig:
    """Validate ``config`` for an agent of ``kind``; raise :class:`ConfigError` when it is wrong."""
    model = _KINDS.get(kind)
    if model is None:
        raise ConfigError(f"Agent kind {kind!r} is not known. Known kinds: http, llm, scripted.")
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"Agent config for kind {kind!r}: {where}: {first['msg']}.") from exc
    if kind == "scripted":
        import regex

        assert isinstance(parsed, ScriptedAgentConfig)
        for rule in parsed.responses:
            if rule.regex:
                try:
                    regex.compile(rule.match)
                except regex.error as exc:
                    raise ConfigError(
                        f"Scripted rule pattern {rule.match!r} does not compile: {exc}."
                    ) from exc
    return parsed  # type: ignore[return-value]
