"""LLMJudge against the fake providers: verdicts, re-asking, errors, caching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, Status, last_user_text

from aifactory.domain.checks.base import JudgeRequest
from aifactory.errors import JudgeError
from aifactory.llm.factory import LLMClients
from aifactory.llm.judge import LLMJudge
from aifactory.llm.verdict_cache import InMemoryVerdictCache, SqliteVerdictCache
from aifactory.settings import Settings

pytest_plugins = ["tests.fakes.fixtures"]

RUBRIC = JudgeRequest(
    kind="rubric",
    criteria="Politely refuses and states the 30-day policy",
    input="Can I get a refund after 40 days?",
    output="Sorry, refunds are only possible within 30 days.",
)
FACT = JudgeRequest(
    kind="factuality",
    criteria="Paris is the capital of France.",
    input="What is the capital of France?",
    output="The capital is Paris, on the Seine.",
)
GOOD = {"reasoning": "States the policy politely.", "score": 0.9, "pass": True}


@pytest.fixture
async def clients(llm_settings: Settings) -> AsyncIterator[LLMClients]:
    async with LLMClients(llm_settings) as shared:
        yield shared


@pytest.fixture
def judge(clients: LLMClients) -> LLMJudge:
    return LLMJudge(clients.get("anthropic"), "claude-haiku-4-5")


async def test_rubric_verdict(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(structured=GOOD, input_tokens=1000, output_tokens=100))
    verdict = await judge.grade(RUBRIC)
    assert (verdict.score, verdict.passed) == (0.9, True)
    assert verdict.reasoning == "States the policy politely."
    assert not verdict.cached
    assert verdict.usage.input_tokens == 1000
    assert verdict.usage.cost_usd == pytest.approx((1000 * 1.0 + 100 * 5.0) / 1e6)
    sent = fake_llm.requests[0].json
    assert sent["tool_choice"] == {"type": "tool", "name": "verdict"}
    prompt = last_user_text(sent)
    for part in (RUBRIC.criteria, RUBRIC.input, RUBRIC.output):
        assert part in prompt
    assert sent["temperature"] == 0.0


async def test_openai_judge_reads_json(clients: LLMClients, fake_llm: FakeLLMServer) -> None:
    judge = LLMJudge(clients.get("openai"), "gpt-4.1-mini")
    fake_llm.script(Reply(structured={"reasoning": "Rude.", "score": 0.2, "pass": False}))
    verdict = await judge.grade(RUBRIC)
    assert (verdict.score, verdict.passed, verdict.reasoning) == (0.2, False, "Rude.")
    assert fake_llm.requests[0].json["response_format"]["json_schema"]["strict"] is True


async def test_reference_answer_reaches_the_rubric_prompt(
    judge: LLMJudge, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(Reply(structured=GOOD))
    await judge.grade(
        JudgeRequest(kind="rubric", criteria="Correct", input="2+2?", output="4", expected="four")
    )
    assert "<reference_answer>\nfour\n</reference_answer>" in last_user_text(
        fake_llm.requests[0].json
    )


@pytest.mark.parametrize(
    ("category", "score", "passed"),
    [("A", 0.4, True), ("B", 0.6, True), ("C", 1.0, True), ("D", 0.0, False), ("E", 1.0, True)],
)
async def test_factuality_categories(
    judge: LLMJudge, fake_llm: FakeLLMServer, category: str, score: float, passed: bool
) -> None:
    fake_llm.script(Reply(structured={"reasoning": "Compared.", "category": category}))
    verdict = await judge.grade(FACT)
    assert (verdict.score, verdict.passed) == (score, passed)
    assert verdict.reasoning == f"({category}) Compared."
    prompt = last_user_text(fake_llm.requests[0].json)
    assert "<expert>\nParis is the capital of France.\n</expert>" in prompt
    assert "(D) There is a disagreement" in prompt


async def test_unusable_reply_is_asked_again_once(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(
        Reply(text="It is pretty good, I would say.", input_tokens=10, output_tokens=5),
        Reply(structured=GOOD, input_tokens=20, output_tokens=5),
    )
    verdict = await judge.grade(RUBRIC)
    assert verdict.score == 0.9
    assert len(fake_llm.requests) == 2
    assert "could not be used" in last_user_text(fake_llm.requests[1].json)
    assert verdict.usage.input_tokens == 30  # both calls were paid for


async def test_unusable_twice_is_a_judge_error(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="Nice."), Reply(structured={"score": 0.5, "pass": True}))
    with pytest.raises(JudgeError, match=r"no usable verdict twice.*'reasoning' is missing"):
        await judge.grade(RUBRIC)
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"reasoning": "x", "score": 7, "pass": True}, "'score' must be a number from 0 to 1"),
        ({"reasoning": "x", "score": True, "pass": True}, "'score' must be a number"),
        ({"reasoning": "x", "score": "high", "pass": True}, "'score' must be a number"),
        ({"reasoning": "x", "score": 0.5}, "'pass' must be true or false"),
        ({"reasoning": "x", "score": 0.5, "pass": "maybe"}, "'pass' must be true or false"),
    ],
)
async def test_invalid_verdicts_are_unusable(
    judge: LLMJudge, fake_llm: FakeLLMServer, reply: dict[str, object], problem: str
) -> None:
    fake_llm.script(Reply(structured=reply), Reply(structured=reply))
    with pytest.raises(JudgeError, match=problem):
        await judge.grade(RUBRIC)


async def test_float_noise_at_the_edges_is_clamped(
    judge: LLMJudge, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(Reply(structured={"reasoning": "x", "score": 1.0004, "pass": "true"}))
    verdict = await judge.grade(RUBRIC)
    assert (verdict.score, verdict.passed) == (1.0, True)


async def test_provider_down_is_a_judge_error(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Status(500), Status(500), Status(500))
    with pytest.raises(JudgeError, match=r"The judge \(claude-haiku-4-5\) could not be reached"):
        await judge.grade(RUBRIC)
    assert len(fake_llm.requests) == 3  # llm_max_attempts in the fixture settings


async def test_cached_verdict_costs_nothing(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(structured=GOOD))
    first = await judge.grade(RUBRIC)
    again = await judge.grade(RUBRIC)
    assert len(fake_llm.requests) == 1
    assert (again.score, again.passed, again.reasoning) == (
        first.score,
        first.passed,
        first.reasoning,
    )
    assert again.cached
    assert (again.usage.input_tokens, again.usage.output_tokens, again.usage.cost_usd) == (
        0,
        0,
        0.0,
    )


async def test_sample_index_model_and_output_change_the_key(
    clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    cache = InMemoryVerdictCache()
    judge = LLMJudge(clients.get("anthropic"), "claude-haiku-4-5", cache=cache)
    fake_llm.responder = lambda body: Reply(structured=GOOD)
    await judge.grade(RUBRIC)
    second = replace(RUBRIC, sample=1)
    verdict = await judge.grade(second)
    assert not verdict.cached
    assert fake_llm.requests[1].json["temperature"] == 1.0  # samples after the first vary
    other_model = LLMJudge(clients.get("anthropic"), "claude-sonnet-4-6", cache=cache)
    assert not (await other_model.grade(RUBRIC)).cached
    changed = replace(RUBRIC, output=RUBRIC.output + "!")
    assert not (await judge.grade(changed)).cached
    assert len(fake_llm.requests) == 4
    assert (await judge.grade(second)).cached


async def test_concurrent_grades_of_one_output_ask_once(
    judge: LLMJudge, fake_llm: FakeLLMServer
) -> None:
    fake_llm.responder = lambda body: Reply(structured=GOOD)
    verdicts = await asyncio.gather(*(judge.grade(RUBRIC) for _ in range(5)))
    assert len(fake_llm.requests) == 1
    assert sum(not v.cached for v in verdicts) == 1


async def test_disk_cache_survives_the_judge(
    clients: LLMClients, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.script(Reply(structured=GOOD))
    first = LLMJudge(
        clients.get("anthropic"),
        "claude-haiku-4-5",
        cache=SqliteVerdictCache.in_dir(tmp_path / "cache"),
    )
    await first.grade(RUBRIC)
    second = LLMJudge(
        clients.get("anthropic"),
        "claude-haiku-4-5",
        cache=SqliteVerdictCache.in_dir(tmp_path / "cache"),
    )
    verdict = await second.grade(RUBRIC)
    assert verdict.cached
    assert (verdict.score, verdict.passed, verdict.reasoning) == (
        0.9,
        True,
        "States the policy politely.",
    )
    assert len(fake_llm.requests) == 1


async def test_unknown_kind(judge: LLMJudge) -> None:
    with pytest.raises(JudgeError, match="Judge kind 'vibes' is not known"):
        await judge.grade(JudgeRequest(kind="vibes", criteria="", input="", output=""))
