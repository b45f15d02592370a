"""The failure table of ``aifactory run`` names a conversation's failing turn."""

from __future__ import annotations

from typing import Any

from aifactory.cli.failures import ConversationCounter, failure_of
from aifactory.domain.models import CheckResult, TestCase, TestResult, TranscriptEntry
from aifactory.domain.turn_failures import failing_turn
from aifactory.engine.runner import ListSink

FAILED = CheckResult(type="contains", status="failed", passed=False, score=0.0, reason="no")
PASSED = CheckResult(type="contains", status="passed", passed=True, score=1.0, reason="yes")


def conversation(
    checks: list[dict[str, Any]],
    results: list[CheckResult],
    *,
    turn_checks: tuple[list[CheckResult], ...] = ([], [], []),
    stop_reason: str | None = "completed",
    status: str = "failed",
) -> TestResult:
    case = TestCase.model_validate(
        {"name": "talk", "turns": [{"input": f"say {n}"} for n in (1, 2, 3)], "checks": checks}
    )
    transcript: list[TranscriptEntry] = []
    for number, found in enumerate(turn_checks, 1):
        transcript.append(TranscriptEntry(role="user", content=f"say {number}", turn=number))
        transcript.append(
            TranscriptEntry(role="assistant", content=f"reply {number}", turn=number, checks=found)
        )
    return TestResult.model_validate(
        {
            "test_case": case,
            "status": status,
            "passed": False,
            "score": 0.0,
            "feedback": "why",
            "error": "broke" if status == "error" else None,
            "checks": results,
            "transcript": transcript,
            "turns": len(turn_checks),
            "stop_reason": stop_reason,
        }
    )


def test_a_single_turn_case_has_no_turn() -> None:
    case = TestCase(name="one", input="hi")
    result = TestResult(test_case=case, status="failed", passed=False, score=0.0, feedback="no")
    assert failure_of(result) == ("one", "failed", "no", "")


def test_the_turn_whose_own_checks_failed() -> None:
    result = conversation([], [], turn_checks=([PASSED], [FAILED], [PASSED]))
    assert failing_turn(result) == "2"


def test_a_case_check_of_the_last_reply_fails_the_last_turn() -> None:
    result = conversation([{"type": "contains", "value": "x"}], [FAILED])
    assert failing_turn(result) == "3"


def test_a_check_of_each_reply_names_the_replies_that_failed() -> None:
    each = FAILED.model_copy(update={"details": {"failed_turns": [1, 3]}})
    result = conversation([{"type": "contains", "value": "x", "scope": "each"}], [each])
    assert failing_turn(result) == "1, 3"


def test_checks_of_the_whole_conversation_fail_all_of_it() -> None:
    result = conversation(
        [
            {"type": "turn_count", "max": 2},
            {"type": "contains", "value": "x", "scope": "conversation"},
        ],
        [FAILED, FAILED],
    )
    assert failing_turn(result) == "all"


def test_a_conversation_cut_short_fails_at_the_turn_that_was_not_answered() -> None:
    result = conversation(
        [], [], turn_checks=([PASSED],), stop_reason="agent_error", status="error"
    )
    assert failure_of(result) == ("talk", "error", "broke", "2")


async def test_the_counter_counts_conversations_and_passes_every_result_on() -> None:
    sink = ListSink()
    counter = ConversationCounter(sink)
    single = TestResult(
        test_case=TestCase(name="one", input="hi"), status="passed", passed=True, score=1
    )
    talk = conversation([], []).model_copy(update={"status": "passed", "passed": True})
    for result in (single, talk, talk):
        await counter.write(result)
    assert (counter.done, counter.passed) == (2, 2)
    assert len(sink.results) == 3
