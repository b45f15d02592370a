"""Conversation cases as records: one of input, turns or simulated_user; scopes; transcripts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from aifactory.domain import conversations
from aifactory.domain.models import (
    CheckResult,
    CheckSpec,
    RunSummary,
    TestCase,
    TestResult,
    ToolCall,
    TranscriptEntry,
    Usage,
)


def _case(**fields: Any) -> TestCase:
    return TestCase.model_validate({"name": "c", **fields})


def test_a_case_holds_scripted_turns_with_their_own_checks() -> None:
    case = _case(
        turns=[
            {"input": "I want a refund", "checks": [{"type": "icontains", "value": "order"}]},
            {"input": "It is A-1234"},
        ],
        checks=[{"type": "llm_rubric", "rubric": "polite", "scope": "conversation"}],
    )

    assert case.is_conversation
    assert case.turns is not None and case.turns[0].checks[0].params == {"value": "order"}
    assert case.checks[0].scope == "conversation"
    assert case.input_text() == "I want a refund"


def test_a_case_holds_a_simulated_user_with_defaults() -> None:
    case = _case(simulated_user={"persona": "short-tempered", "goal": "a refund"})

    assert case.simulated_user is not None
    assert case.simulated_user.max_turns == 8
    assert case.simulated_user.first_message is None
    assert case.simulated_user.model is None
    assert case.input_text() == ""
    assert case.messages() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "needs an 'input'"),
        ({"input": "hi", "turns": [{"input": "x"}]}, "'input' and 'turns'"),
        (
            {"turns": [{"input": "x"}], "simulated_user": {"persona": "p"}},
            "'turns' and 'simulated_user'",
        ),
        ({"turns": []}, "at least one turn"),
        ({"input": "hi", "checks": [{"type": "contains", "scope": "all"}]}, "'each'"),
        (
            {"turns": [{"input": "x", "checks": [{"type": "contains", "scope": "each"}]}]},
            "a turn's checks judge that turn's reply",
        ),
        ({"simulated_user": {"persona": ""}}, "persona"),
        ({"simulated_user": {"persona": "p", "max_turns": 0}}, "max_turns"),
    ],
)
def test_a_case_that_is_not_exactly_one_kind_is_refused_with_a_clear_message(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _case(**fields)


def test_single_turn_cases_dump_as_they_always_did() -> None:
    case = _case(input="hi", checks=[{"type": "contains", "value": "x"}])

    dumped = case.model_dump(mode="json")

    assert "turns" not in dumped and "simulated_user" not in dumped
    assert dumped["checks"] == [{"type": "contains", "weight": 1.0, "negate": False, "value": "x"}]
    assert CheckSpec(type="contains", value="x").params == {"value": "x"}


def test_a_conversation_case_survives_a_round_trip() -> None:
    case = _case(
        simulated_user={"persona": "p", "goal": "g", "first_message": "hello", "max_turns": 3},
        checks=[{"type": "goal_completed"}, {"type": "contains", "value": "x", "scope": "each"}],
    )

    again = TestCase.model_validate_json(case.model_dump_json())

    assert again == case
    assert "input" not in case.model_dump()


def test_a_stored_result_without_conversation_fields_still_loads() -> None:
    stored = {
        "test_case": {"name": "a", "input": "x", "checks": [{"type": "contains", "value": "x"}]},
        "status": "passed",
        "passed": True,
        "score": 1.0,
    }

    result = TestResult.model_validate(stored)

    assert result.transcript is None and result.turns is None and result.stop_reason is None
    assert result.simulator_usage == Usage()
    assert RunSummary.model_validate({"total": 1}).conversations is None


def test_a_result_refuses_an_unknown_stop_reason() -> None:
    with pytest.raises(ValidationError, match="stop_reason"):
        TestResult.model_validate(
            {
                "test_case": {"name": "a", "input": "x"},
                "status": "passed",
                "passed": True,
                "score": 1.0,
                "stop_reason": "bored",
            }
        )


def _entry(role: str, content: str, turn: int | None = 1, **more: Any) -> TranscriptEntry:
    return TranscriptEntry.model_validate({"role": role, "content": content, "turn": turn, **more})


def test_render_and_whole_see_the_conversation_as_one_reply() -> None:
    entries = [
        _entry("user", "hi"),
        _entry(
            "assistant",
            "hello",
            tool_calls=[{"name": "lookup"}],
            latency_ms=10.0,
            usage={"input_tokens": 1, "output_tokens": 2, "cost_usd": 0.5},
        ),
        _entry("user", "bye", 2),
        _entry(
            "assistant",
            "ciao",
            2,
            tool_calls=[{"name": "close"}],
            latency_ms=5.0,
            usage={"input_tokens": 3, "output_tokens": 4, "cost_usd": 0.25},
        ),
    ]

    reply = conversations.whole(entries)

    assert reply.output == "user: hi\n\nassistant: hello\n\nuser: bye\n\nassistant: ciao"
    assert [c.name for c in reply.tool_calls] == ["lookup", "close"]
    assert reply.latency_ms == 15.0
    assert reply.usage == Usage(input_tokens=4, output_tokens=6, cost_usd=0.75)
    assert [e.content for e in conversations.replies(entries)] == ["hello", "ciao"]


def test_a_small_transcript_is_kept_whole() -> None:
    entries = [_entry("user", "hi"), _entry("assistant", "hello")]

    assert conversations.bound(entries) == entries


def test_a_huge_message_is_cut_with_a_marker() -> None:
    entries = [_entry("user", "hi"), _entry("assistant", "x" * 500_000)]

    bounded = conversations.bound(entries)

    assert len(bounded) == 2
    assert bounded[1].content.endswith("characters cut]")
    assert sum(len(e.model_dump_json()) for e in bounded) <= conversations.TRANSCRIPT_LIMIT_BYTES


def test_a_long_transcript_keeps_its_start_and_end_with_a_marker_between() -> None:
    entries = [
        _entry("user" if i % 2 == 0 else "assistant", f"{i} " + "y" * 20_000, i // 2 + 1)
        for i in range(60)
    ]

    bounded = conversations.bound(entries)

    assert bounded[0] == entries[0]
    assert bounded[-1] == entries[-1]
    assert bounded[1].role == "system" and "cut here" in bounded[1].content
    assert sum(len(e.model_dump_json()) for e in bounded) <= conversations.TRANSCRIPT_LIMIT_BYTES


def test_failing_turns_are_those_whose_reply_failed_a_check() -> None:
    failed = CheckResult(type="contains", status="failed", passed=False, score=0.0)
    passed = CheckResult(type="contains", status="passed", passed=True, score=1.0)
    result = TestResult(
        test_case=_case(turns=[{"input": "a"}, {"input": "b"}]),
        status="failed",
        passed=False,
        score=0.5,
        transcript=[
            _entry("user", "a", 1),
            _entry("assistant", "x", 1, checks=[passed.model_dump()]),
            _entry("user", "b", 2),
            _entry("assistant", "y", 2, checks=[failed.model_dump()]),
        ],
    )

    assert conversations.failing_turns(result) == [2]


def test_single_exchange_is_a_transcript_of_one_turn() -> None:
    from aifactory.domain.models import AgentReply

    entries = conversations.single_exchange(
        _case(input="hi"), AgentReply(output="yo", tool_calls=[ToolCall(name="t")])
    )

    assert [(e.role, e.content, e.turn) for e in entries] == [
        ("user", "hi", 1),
        ("assistant", "yo", 1),
    ]
