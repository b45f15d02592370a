"""Conversation checks (turn_count, tool_sequence, goal_completed) and the three scopes."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.checks import (
    CheckContext,
    JudgeRequest,
    JudgeVerdict,
    build_check,
    run_check,
)
from aifactory.domain.checks.scopes import run_in_scope
from aifactory.domain.models import (
    AgentReply,
    CheckResult,
    CheckSpec,
    TestCase,
    TranscriptEntry,
    Usage,
)
from aifactory.errors import CheckSpecError

CASE = TestCase(
    name="refund",
    simulated_user={"persona": "an upset customer", "goal": "a refund for order A-1234"},
    expected="refund",
)


def entry(role: str, content: str, turn: int, *tools: str) -> TranscriptEntry:
    return TranscriptEntry(
        role=role,  # type: ignore[arg-type]
        content=content,
        turn=turn,
        tool_calls=[{"name": t, "args": {"id": turn}} for t in tools],  # type: ignore[misc]
        latency_ms=10.0 if role == "assistant" else None,
        usage=Usage(input_tokens=1, output_tokens=1, cost_usd=0.0) if role == "assistant" else None,
    )


TRANSCRIPT = [
    entry("user", "My shoes arrived torn!", 1),
    entry("assistant", "Sorry! What is your order number?", 1, "lookup_customer"),
    entry("user", "A-1234", 2),
    entry("assistant", "Found it. Refund issued for order A-1234.", 2, "lookup_order", "refund"),
    entry("user", "Thanks", 3),
    entry("assistant", "You are welcome.", 3),
]


class RecordingJudge:
    def __init__(self, score: float = 1.0) -> None:
        self.score = score
        self.requests: list[JudgeRequest] = []

    async def grade(self, request: JudgeRequest) -> JudgeVerdict:
        self.requests.append(request)
        return JudgeVerdict(
            score=self.score,
            passed=self.score >= 0.5,
            reasoning="the refund was issued",
            usage=Usage(input_tokens=50, output_tokens=10, cost_usd=0.001),
        )


async def scoped(
    spec: dict[str, Any], ctx: CheckContext | None = None, transcript: list[Any] | None = None
) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_in_scope(built, CASE, transcript or TRANSCRIPT, ctx or CheckContext())


@pytest.mark.parametrize(
    ("params", "passed", "reason"),
    [
        ({"max": 3}, True, "replied 3 times"),
        ({"min": 4}, False, "fewer than 4"),
        ({"max": 2}, False, "more than 2"),
        ({"min": 1, "max": 3}, True, "replied 3 times"),
    ],
)
async def test_turn_count_counts_agent_replies(
    params: dict[str, int], passed: bool, reason: str
) -> None:
    result = await scoped({"type": "turn_count", **params})

    assert result.passed is passed
    assert reason in result.reason


@pytest.mark.parametrize(
    "params",
    [{}, {"min": 3, "max": 1}, {"min": -1}],
)
def test_turn_count_needs_sensible_bounds(params: dict[str, int]) -> None:
    with pytest.raises(CheckSpecError):
        build_check(CheckSpec(type="turn_count", **params))


@pytest.mark.parametrize(
    ("params", "passed", "score"),
    [
        ({"names": ["lookup_order", "refund"]}, True, 1.0),
        ({"names": ["lookup_customer", "refund"]}, True, 1.0),
        ({"names": ["refund", "lookup_order"]}, False, 0.5),
        ({"names": ["lookup_order", "refund"], "strict": True}, False, 0.0),
        (
            {"names": ["lookup_customer", "lookup_order", "refund"], "strict": True},
            True,
            1.0,
        ),
        ({"names": ["lookup_customer", "cancel"], "strict": True}, False, 0.5),
    ],
)
async def test_tool_sequence_follows_calls_across_the_conversation(
    params: dict[str, Any], passed: bool, score: float
) -> None:
    result = await scoped({"type": "tool_sequence", **params})

    assert (result.passed, result.score) == (passed, pytest.approx(score))
    if not passed:
        assert "lookup_customer → lookup_order → refund" in result.reason


async def test_tool_called_looks_across_the_conversation_by_default() -> None:
    anywhere = await scoped({"type": "tool_called", "name": "lookup_customer"})
    every_reply = await scoped({"type": "tool_called", "name": "lookup_customer", "scope": "each"})

    assert anywhere.passed
    assert not every_reply.passed
    assert every_reply.details is not None and every_reply.details["failed_turns"] == [2, 3]


async def test_last_scope_judges_the_last_reply() -> None:
    last = await scoped({"type": "contains", "value": "welcome"})
    earlier = await scoped({"type": "contains", "value": "Refund issued"})

    assert last.passed and not earlier.passed


async def test_conversation_scope_reads_the_whole_transcript_as_text() -> None:
    result = await scoped({"type": "contains", "value": "Refund issued", "scope": "conversation"})
    user_side = await scoped({"type": "icontains", "value": "torn", "scope": "conversation"})

    assert result.passed and user_side.passed


async def test_each_scope_needs_every_reply_to_pass_and_scores_the_mean() -> None:
    result = await scoped({"type": "icontains", "value": "o", "scope": "each"})
    failing = await scoped({"type": "contains", "value": "order", "scope": "each"})

    assert result.passed and result.score == 1.0
    assert "each of the 3 replies passed" in result.reason
    assert not failing.passed
    assert failing.score == pytest.approx(2 / 3)
    assert "turn 3" in failing.reason
    assert failing.details is not None and failing.details["failed_turns"] == [3]


async def test_each_scope_negated_needs_every_reply_to_avoid_it() -> None:
    result = await scoped({"type": "not_contains", "value": "password", "scope": "each"})

    assert result.passed and result.status == "passed"


async def test_a_conversation_without_replies_fails_a_reply_check() -> None:
    result = await scoped({"type": "contains", "value": "x"}, transcript=[TRANSCRIPT[0]])

    assert result.status == "failed" and "never replied" in result.reason


def test_whole_conversation_checks_refuse_scope_each() -> None:
    with pytest.raises(CheckSpecError, match="scope 'each'"):
        build_check(CheckSpec(type="turn_count", max=3, scope="each"))


async def test_goal_completed_shows_the_judge_the_transcript_and_the_users_goal() -> None:
    judge = RecordingJudge()

    result = await scoped({"type": "goal_completed"}, CheckContext(judge=judge))

    assert result.passed and result.reason == "the refund was issued"
    assert result.usage == Usage(input_tokens=50, output_tokens=10, cost_usd=0.001)
    (request,) = judge.requests
    assert request.kind == "goal"
    assert request.criteria == "a refund for order A-1234"
    assert request.conversation is not None
    assert "user: A-1234" in request.conversation
    assert "assistant: You are welcome." in request.conversation


async def test_goal_completed_takes_its_own_goal_and_threshold() -> None:
    judge = RecordingJudge(score=0.6)

    result = await scoped(
        {"type": "goal_completed", "goal": "an apology", "threshold": 0.7},
        CheckContext(judge=judge),
    )

    assert not result.passed
    assert judge.requests[0].criteria == "an apology"


async def test_goal_completed_without_a_goal_is_an_error() -> None:
    case = TestCase(name="plain", input="hi")
    built = build_check(CheckSpec(type="goal_completed"))

    result = await run_check(built, AgentReply(output="hello"), case, CheckContext())

    assert result.status == "error" and "has no goal" in result.reason


async def test_goal_completed_without_a_judge_is_an_error() -> None:
    result = await scoped({"type": "goal_completed"})

    assert result.status == "error" and "No judge is configured" in result.reason


async def test_llm_rubric_in_conversation_scope_shows_the_judge_the_transcript() -> None:
    judge = RecordingJudge()

    result = await scoped(
        {"type": "llm_rubric", "rubric": "Stays polite", "scope": "conversation"},
        CheckContext(judge=judge),
    )

    assert result.passed
    (request,) = judge.requests
    assert request.kind == "rubric" and request.conversation is not None
    assert request.conversation.startswith("user: My shoes arrived torn!")


async def test_llm_rubric_in_each_scope_asks_once_per_reply_with_the_message_it_answered() -> None:
    judge = RecordingJudge()

    result = await scoped(
        {"type": "llm_rubric", "rubric": "Stays polite", "scope": "each"},
        CheckContext(judge=judge),
    )

    assert result.passed
    assert [(r.input, r.output) for r in judge.requests] == [
        ("My shoes arrived torn!", "Sorry! What is your order number?"),
        ("A-1234", "Found it. Refund issued for order A-1234."),
        ("Thanks", "You are welcome."),
    ]
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (150, 30)
    assert result.usage.cost_usd == pytest.approx(0.003)


async def test_conversation_checks_read_a_single_exchange_on_a_single_case() -> None:
    case = TestCase(name="one", input="hi")
    reply = AgentReply(output="hello", tool_calls=[{"name": "greet"}])  # type: ignore[list-item]

    turns = await run_check(
        build_check(CheckSpec(type="turn_count", max=1)), reply, case, CheckContext()
    )
    tools = await run_check(
        build_check(CheckSpec(type="tool_sequence", names=["greet"], strict=True)),
        reply,
        case,
        CheckContext(),
    )

    assert turns.passed and tools.passed
