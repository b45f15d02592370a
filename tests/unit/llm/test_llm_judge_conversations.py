"""The judge reading a conversation: the goal kind, a rubric over a transcript, their cache keys."""

from __future__ import annotations

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, last_user_text

from aifactory.domain.checks.base import JudgeRequest
from aifactory.errors import JudgeError
from aifactory.llm.factory import LLMClients
from aifactory.llm.judge import LLMJudge
from aifactory.llm.verdict_cache import verdict_key

pytest_plugins = ["tests.fakes.fixtures"]

TRANSCRIPT = "user: My shoes arrived torn!\n\nassistant: Refund issued for order A-1234."
GOAL = JudgeRequest(
    kind="goal",
    criteria="a refund for order A-1234",
    input="",
    output="Refund issued for order A-1234.",
    conversation=TRANSCRIPT,
)
VERDICT = {"reasoning": "The refund was issued.", "score": 1.0, "pass": True}


async def test_the_goal_is_graded_on_the_transcript(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    judge = LLMJudge(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(Reply(structured=VERDICT))

    verdict = await judge.grade(GOAL)

    assert (verdict.score, verdict.passed) == (1.0, True)
    prompt = last_user_text(fake_llm.requests[0].json)
    assert "<goal>\na refund for order A-1234\n</goal>" in prompt
    assert f"<conversation>\n{TRANSCRIPT}\n</conversation>" in prompt


async def test_a_rubric_with_a_conversation_grades_the_transcript(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    judge = LLMJudge(llm_clients.get("openai"), "gpt-4.1-mini")
    fake_llm.script(Reply(structured=VERDICT))
    request = JudgeRequest(
        kind="rubric", criteria="Stays polite", input="", output="", conversation=TRANSCRIPT
    )

    await judge.grade(request)

    prompt = last_user_text(fake_llm.requests[0].json)
    assert "Grade the conversation" in prompt and TRANSCRIPT in prompt
    assert "<output>" not in prompt


async def test_an_unknown_kind_names_the_known_ones(llm_clients: LLMClients) -> None:
    judge = LLMJudge(llm_clients.get("anthropic"), "claude-haiku-4-5")

    with pytest.raises(JudgeError, match="'rubric', 'factuality' or 'goal'"):
        await judge.grade(JudgeRequest(kind="vibes", criteria="", input="", output=""))


def test_the_transcript_is_part_of_the_cache_key_only_when_there_is_one() -> None:
    plain = JudgeRequest(kind="rubric", criteria="c", input="i", output="o")
    with_transcript = JudgeRequest(
        kind="rubric", criteria="c", input="i", output="o", conversation="user: i"
    )

    assert verdict_key("m", plain) != verdict_key("m", with_transcript)
    assert verdict_key("m", with_transcript) != verdict_key(
        "m", JudgeRequest(kind="rubric", criteria="c", input="i", output="o", conversation="x")
    )
