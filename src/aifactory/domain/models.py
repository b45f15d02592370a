"""The records the whole product speaks: agents, test cases, checks, replies and results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)

CaseStatus = Literal["passed", "failed", "error"]
CheckStatus = Literal["passed", "failed", "error"]
AgentKind = Literal["llm", "http", "scripted"]
CheckScope = Literal["last", "conversation", "each"]
"""What a case-level check of a conversation judges: the last reply, the whole transcript, or
every reply."""
StopReason = Literal["completed", "goal_reached", "gave_up", "max_turns", "agent_error"]
"""Why a conversation ended: its scripted turns were done, the simulated user was done (goal
reached or gave up), ``max_turns`` agent replies, or an agent error."""
TranscriptRole = Literal["user", "assistant", "system"]
"""``system`` appears only as the marker where a transcript over its size limit was cut."""

CHECK_SCOPES: tuple[CheckScope, ...] = ("last", "conversation", "each")
STOP_REASONS: tuple[StopReason, ...] = (
    "completed",
    "goal_reached",
    "gave_up",
    "max_turns",
    "agent_error",
)
DEFAULT_MAX_TURNS = 8


def _is_none(value: object) -> bool:
    return value is None


def _is_last(value: object) -> bool:
    return value == "last"


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
    scope: CheckScope = Field(default="last", exclude_if=_is_last)
    """For a conversation: the last reply (default), the whole conversation, or each reply.
    Left out of a dump when it is the default, so single-turn cases read as they always did."""

    @property
    def params(self) -> dict[str, Any]:
        """The check's own parameters (everything but type, weight, negate and scope)."""
        return dict(self.model_extra or {})


class Turn(BaseModel):
    """One scripted user turn of a conversation, and the checks on the agent's reply to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str
    checks: list[CheckSpec] = Field(default_factory=list)
    """Judge this turn's reply (with the conversation so far, for checks that read one)."""

    @field_validator("checks")
    @classmethod
    def _turn_scope(cls, checks: list[CheckSpec]) -> list[CheckSpec]:
        for spec in checks:
            if spec.scope != "last":
                raise ValueError(
                    f"check {spec.type!r} of a turn has scope {spec.scope!r}, but a turn's "
                    "checks judge that turn's reply; put checks with a scope on the case"
                )
        return checks


class SimulatedUser(BaseModel):
    """A model that plays the user: who it is, what it wants, and how long it may talk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    persona: str = Field(min_length=1, max_length=20_000)
    """Who the user is and how they talk; the simulator's instructions."""
    goal: str | None = Field(default=None, max_length=20_000)
    """What the user wants; ``goal_completed`` grades against it by default."""
    first_message: str | None = None
    """The user's opening message; without it the simulator opens."""
    max_turns: int = Field(default=DEFAULT_MAX_TURNS, ge=1, le=100)
    """The conversation ends after this many agent replies."""
    model: str | None = None
    """``provider:model``; else ``AIFACTORY_SIMULATOR_MODEL``, else the judge's model."""


class TestCase(BaseModel):
    """One test of an agent: what is said to it, and what a good answer looks like.

    It holds exactly one of ``input`` (one message, or a fixed transcript answered once),
    ``turns`` (scripted turns of a conversation) or ``simulated_user`` (a model plays the user).
    """

    __test__ = False  # not a pytest class
    # The schema says "exactly one of the three" too, so clients and schema-driven tools see it.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["input"]},
                {"required": ["turns"]},
                {"required": ["simulated_user"]},
            ]
        },
    )

    name: str = Field(min_length=1, max_length=500)
    # turns and simulated_user come before input so that input's validator sees them.
    turns: list[Turn] | None = Field(default=None, exclude_if=_is_none)
    """Scripted user turns, sent one after another in one session."""
    simulated_user: SimulatedUser | None = Field(default=None, exclude_if=_is_none)
    """A simulated user who talks with the agent until done or ``max_turns``."""
    input: str | list[Message] | None = Field(
        default=None, exclude_if=_is_none, validate_default=True
    )
    """Prompt, or a conversation, sent to the agent."""
    expected: str | None = None
    checks: list[CheckSpec] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("input")
    @classmethod
    def _input_required(
        cls, value: str | list[Message] | None, info: ValidationInfo
    ) -> str | list[Message] | None:
        # When turns or simulated_user failed their own validation (absent from info.data),
        # their error says enough.
        others = [info.data.get(k, ...) for k in ("turns", "simulated_user")]
        if value is None and others == [None, None]:
            raise PydanticCustomError(
                "missing",
                "Field required: a test case needs an 'input' (or scripted 'turns', or a "
                "'simulated_user')",
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> TestCase:
        given = [
            name
            for name, value in (
                ("input", self.input),
                ("turns", self.turns),
                ("simulated_user", self.simulated_user),
            )
            if value is not None
        ]
        if len(given) != 1:
            found = "none of them" if not given else " and ".join(repr(g) for g in given)
            raise ValueError(
                "a test case holds exactly one of 'input' (one message), 'turns' (scripted "
                f"turns) or 'simulated_user' (a simulated user); this one has {found}"
            )
        if self.turns is not None and not self.turns:
            raise ValueError("'turns' holds at least one turn")
        return self

    @property
    def is_conversation(self) -> bool:
        """Whether the case is a conversation (scripted turns or a simulated user)."""
        return self.input is None

    def input_text(self) -> str:
        """The input as one string: the prompt, or the last user turn of a conversation.

        For a conversation case: its first scripted turn, or the simulated user's first message
        (empty when the simulator opens).
        """
        if self.input is None:
            if self.turns:
                return self.turns[0].input
            if self.simulated_user is not None:
                return self.simulated_user.first_message or ""
            return ""
        if isinstance(self.input, str):
            return self.input
        for message in reversed(self.input):
            if message.role == "user":
                return message.content
        return self.input[-1].content if self.input else ""

    def input_as_text(self) -> str:
        """The input for people to read: the prompt, a fixed transcript as ``role: content``
        lines, the scripted user turns, or who the simulated user is and what it wants."""
        if isinstance(self.input, str):
            return self.input
        if self.input is not None:
            return "\n".join(f"{m.role}: {m.content}" for m in self.input)
        if self.turns is not None:
            return "\n".join(f"user: {t.input}" for t in self.turns)
        user = self.simulated_user
        if user is None:
            return ""
        lines = [f"simulated user: {user.persona}"]
        if user.goal:
            lines.append(f"goal: {user.goal}")
        if user.first_message:
            lines.append(f"user: {user.first_message}")
        return "\n".join(lines)

    def messages(self) -> list[Message]:
        """The input as a conversation (a conversation case: its opening message, if known)."""
        if self.input is None:
            text = self.input_text()
            return [Message(role="user", content=text)] if text else []
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


class TranscriptEntry(BaseModel):
    """One message of a conversation's transcript; an agent's reply carries its turn's checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: TranscriptRole
    content: str
    turn: int | None = None
    """The exchange it belongs to (1 for the first user message and the agent's first reply);
    None on the marker of a cut transcript."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    latency_ms: float | None = None
    usage: Usage | None = None
    """The agent's usage for this reply (assistant entries)."""
    checks: list[CheckResult] = Field(default_factory=list)
    """This turn's checks on this reply (assistant entries of scripted turns)."""


class Review(BaseModel):
    """What people said of a result: how many labels, and the majority of its result-level ones.

    ``passed`` is None on a tie, or when only its checks were labeled (see
    :mod:`aifactory.domain.review`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: int = Field(ge=0)
    passed: bool | None = None


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
    review: Review | None = None
    """People's labels on the result (None when it has none)."""
    transcript: list[TranscriptEntry] | None = None
    """The conversation, for conversation cases (None for others); bounded in size."""
    turns: int | None = None
    """How many times the agent replied in the conversation (None for other cases)."""
    stop_reason: StopReason | None = None
    """Why the conversation ended (None for other cases)."""
    simulator_usage: Usage = Field(default_factory=Usage)
    """The simulated user's tokens and cost."""


class Interval(BaseModel):
    """A confidence interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    high: float
    level: float = 0.95


class TurnStats(BaseModel):
    """How often replies to the n-th scripted turn passed that turn's checks."""

    model_config = ConfigDict(extra="forbid")

    passed: int = 0
    total: int = 0
    pass_rate: float | None = None
    pass_rate_ci: Interval | None = None


class ConversationStats(BaseModel):
    """The conversations of a run: how often they passed, how they ended, how long they took."""

    model_config = ConfigDict(extra="forbid")

    total: int = 0
    passed: int = 0
    pass_rate: float | None = None
    pass_rate_ci: Interval | None = None
    mean_turns: float | None = None
    """Agent replies per conversation."""
    stop_reasons: dict[str, int] = Field(default_factory=dict)
    by_turn: dict[str, TurnStats] = Field(default_factory=dict)
    """Scripted turns by their number ("1", "2", …), over every scripted conversation."""
    simulated: int = 0
    """Conversations with a simulated user."""
    goal_reached: int = 0
    """Simulated conversations whose user was done with its goal reached."""
    mean_turns_to_goal: float | None = None
    """Agent replies until the simulated user reached its goal, over those that did."""
    turns_to_goal_ci: Interval | None = None


class RunReview(BaseModel):
    """A run's labeled results: the people's pass rate next to the checks' on the same results."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    labeled: int = Field(default=0, ge=0)
    """Results with a people's verdict (the majority of their result-level labels)."""
    human_pass_rate: float | None = None
    judge_pass_rate: float | None = None
    """The share of the same results that passed their checks."""


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
    review: RunReview | None = None
    """Of the results people labeled: their pass rate next to the judge's (added when read)."""
    simulator_usage: Usage = Field(default_factory=Usage)
    conversations: ConversationStats | None = None
    """Conversation figures, when the run has conversation cases."""
