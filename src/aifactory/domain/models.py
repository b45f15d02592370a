"""The records the whole product speaks: agents, test cases, checks, replies and results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)

CaseStatus = Literal["passed", "failed", "error"]
CheckStatus = Literal["passed", "failed", "error"]
AgentKind = Literal["llm", "http", "scripted"]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    """Tokens and cost of one or more model calls; ``cost_usd`` is None when a price is unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        elif self.cost_usd is None and self.input_tokens == self.output_tokens == 0:
            cost = other.cost_usd
        elif other.cost_usd is None and other.input_tokens == other.output_tokens == 0:
            cost = self.cost_usd
        elif self.cost_usd is None or other.cost_usd is None:
            cost = None
        else:
            cost = self.cost_usd + other.cost_usd
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=cost,
        )


class ToolCall(BaseModel):
    """A tool call an agent reported making."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class AgentReply(BaseModel):
    """What an agent answered to one test case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0


class CheckSpec(BaseModel):
    """A check as written in a suite: its ``type``, ``weight``, ``negate`` and its parameters.

    Parameters are kept as extra fields and validated against the check's factory by the
    registry (:func:`aifactory.domain.checks.build_check`).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str
    weight: float = Field(default=1.0, ge=0)
    negate: bool = False

    @property
    def params(self) -> dict[str, Any]:
        """The check's own parameters (everything but type, weight and negate)."""
        return dict(self.model_extra or {})


class TestCase(BaseModel):
    """One input to send to an agent, and what a good answer looks like."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=500)
    input: str | list[Message]
    """Prompt, or a conversation, sent to the agent."""
    expected: str | None = None
    checks: list[CheckSpec] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def input_text(self) -> str:
        """The input as one string: the prompt, or the last user turn of a conversation."""
        if isinstance(self.input, str):
            return self.input
        for message in reversed(self.input):
            if message.role == "user":
                return message.content
        return self.input[-1].content if self.input else ""

    def messages(self) -> list[Message]:
        """The input as a conversation."""
        if isinstance(self.input, str):
            return [Message(role="user", content=self.input)]
        return list(self.input)


class AgentSpec(BaseModel):
    """An agent under test: a prompt and model, an HTTP endpoint, or a scripted fake."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = None
    kind: AgentKind
    config: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int = Field(default=8, ge=1, le=1000)
    rate_limit_per_minute: int | None = Field(default=600, ge=1, le=100_000_000)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is not None and not _ID_RE.match(value):
            raise ValueError(
                "must be 1-64 characters of lowercase letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _valid_config(self) -> AgentSpec:
        from aifactory.domain.agent_config import parse_agent_config

        parse_agent_config(self.kind, self.config)
        return self


class CheckResult(BaseModel):
    """The outcome of one check on one reply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    status: CheckStatus
    passed: bool
    score: float = Field(ge=0, le=1)
    weight: float = 1.0
    reason: str = ""
    details: dict[str, Any] | None = None
    usage: Usage | None = None
    """The judge's usage, for model-graded checks."""


class TestResult(BaseModel):
    """The outcome of one test case against one agent version."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    agent_version: int | None = None
    case_index: int = 0
    repeat_index: int = 0
    test_case: TestCase
    status: CaseStatus
    passed: bool
    score: float = Field(ge=0, le=1)
    feedback: str = ""
    output: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    latency_ms: float | None = None
    usage: Usage = Field(default_factory=Usage)
    judge_usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    cached: bool = False
    created_at: datetime | None = None


class Interval(BaseModel):
    """A confidence interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    high: float
    level: float = 0.95


class RunSummary(BaseModel):
    """Aggregates of a run's results, with their uncertainty."""

    model_config = ConfigDict(extra="forbid")

    total: int = 0
    completed: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    pass_rate: float | None = None
    pass_rate_ci: Interval | None = None
    mean_score: float | None = None
    score_ci: Interval | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    judge_usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    by_tag: dict[str, dict[str, Any]] = Field(default_factory=dict)
    flaky_cases: list[str] = Field(default_factory=list)
    pass_at_k: dict[str, float] = Field(default_factory=dict)
    stopped_reason: str | None = None
