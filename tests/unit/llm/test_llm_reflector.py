"""The reflector against the fake providers: what it is shown, what it keeps, re-asking, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, Status, last_user_text

from aifactory.domain.models import CheckResult, TestCase, TestResult
from aifactory.domain.reflection import Candidate
from aifactory.llm.factory import LLMClients
from aifactory.llm.reflector import ReflectionContext, Reflector, ReflectorError
from aifactory.settings import Settings

pytest_plugins = ["tests.fakes.fixtures"]

PROMPT = "You are a support bot."


def result(name: str, output: str, *, passed: bool) -> TestResult:
    return TestResult(
        test_case=TestCase(name=name, input=f"question {name}", expected="Refunds within 30 days."),
        status="passed" if passed else "failed",
        passed=passed,
        score=1.0 if passed else 0.0,
        output=output,
        checks=[
            CheckResult(
                type="llm_rubric",
                status="passed" if passed else "failed",
                passed=passed,
                score=1.0 if passed else 0.0,
                reason="Does not state the 30-day policy." if not passed else "Fine.",
            )
        ],
        feedback="Does not state the 30-day policy." if not passed else "",
    )


def context(**changes: object) -> ReflectionContext:
    values: dict[str, object] = {
        "mode": "versions",
        "system_prompt": PROMPT,
        "agent_kind": "llm",
        "failures": [result("late refund", "Maybe?", passed=False)],
        "passes": [result("greeting", "Hello!", passed=True)],
        "history": [
            Candidate(
                version=2,
                rationale="Be terse.",
                prompt_diff="-a\n+b\n",
                train_pass_rate=0.4,
                holdout_pass_rate=0.3,
                verdict="rejected",
                reason="The holdout gain is not significant.",
            )
        ],
        "count": 2,
    }
    values.update(changes)
    return ReflectionContext(**values)  # type: ignore[arg-type]


@pytest.fixture
async def reflector(llm_settings: Settings) -> AsyncIterator[Reflector]:
    async with LLMClients(llm_settings) as clients:
        yield Reflector(clients.get("anthropic"), "claude-haiku-4-5", label="anthropic:haiku")


def proposal(*prompts: str) -> Reply:
    return Reply(
        structured={"candidates": [{"rationale": f"why {p}", "system_prompt": p} for p in prompts]},
        input_tokens=1000,
        output_tokens=200,
    )


async def test_it_is_shown_failures_passes_and_history_and_answers_candidates(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(proposal(f"{PROMPT} State the 30-day policy.", f"{PROMPT} Be kind."))
    found = await reflector.propose(context())
    assert [p.text for p in found.items] == [
        f"{PROMPT} State the 30-day policy.",
        f"{PROMPT} Be kind.",
    ]
    assert found.items[0].rationale == f"why {PROMPT} State the 30-day policy."
    assert found.usage.cost_usd == pytest.approx((1000 * 1.0 + 200 * 5.0) / 1e6)
    sent = fake_llm.requests[0].json
    assert sent["tool_choice"] == {"type": "tool", "name": "proposal"}
    schema = sent["tools"][0]["input_schema"]["properties"]["candidates"]
    assert schema["description"] == "From 1 to 2 candidates, each different."
    prompt = last_user_text(sent)
    for part in (
        PROMPT,
        "question late refund",
        "Maybe?",
        "Refunds within 30 days.",
        "Does not state the 30-day policy.",
        "question greeting",
        'verdict="rejected"',
        "train pass rate 40%.",
    ):
        assert part in prompt


async def test_it_is_never_shown_what_the_holdout_measured(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    measured = Candidate(
        version=3,
        rationale="Quote the policy.",
        prompt_diff="-a\n+c\n",
        train_pass_rate=0.55,
        holdout_pass_rate=0.71,
        holdout_completed=14,
        p_value=0.0123,
        improvements=9,
        regressions=2,
        verdict="accepted",
        reason="The holdout improved: 9 improved and 2 regressed (McNemar p = 0.0123).",
    )
    fake_llm.script(proposal("Better."))
    await reflector.propose(context(history=[measured]))
    prompt = last_user_text(fake_llm.requests[0].json)
    assert "train pass rate 55%." in prompt and "Quote the policy." in prompt
    for leak in ("71%", "holdout", "mcnemar", "0.0123", "9 improved", "2 regressed"):
        assert leak not in prompt.lower()


async def test_copies_of_the_current_prompt_and_duplicates_are_dropped(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(proposal(PROMPT, "New prompt.", "New prompt.", "Another.", "A third."))
    found = await reflector.propose(context())
    assert [p.text for p in found.items] == ["New prompt.", "Another."]


async def test_an_unusable_reply_is_asked_for_again(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(Reply(structured={"candidates": []}), proposal("Better."))
    found = await reflector.propose(context())
    assert [p.text for p in found.items] == ["Better."]
    again = last_user_text(fake_llm.requests[1].json)
    assert "could not be used: 'candidates' is missing or not a non-empty list." in again


async def test_two_unusable_replies_raise_with_the_cost_so_far(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(
        Reply(text="Sure! Here you go.", input_tokens=1000, output_tokens=0),
        proposal(PROMPT),  # only the current prompt again: nothing usable
    )
    with pytest.raises(ReflectorError, match="no usable proposal twice") as caught:
        await reflector.propose(context())
    assert "different from the current one" in str(caught.value)
    assert caught.value.usage.input_tokens == 2000
    assert len(fake_llm.requests) == 2


async def test_a_provider_that_stays_down_is_a_reflector_error(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(*[Status(500)] * 3)
    with pytest.raises(ReflectorError, match=r"reflector \(anthropic:haiku\) could not be reached"):
        await reflector.propose(context())


async def test_agents_without_a_prompt_get_suggestions(
    reflector: Reflector, fake_llm: FakeLLMServer
) -> None:
    fake_llm.script(
        Reply(structured={"candidates": [{"rationale": "r", "suggestion": "Add a refund FAQ."}]})
    )
    found = await reflector.propose(
        context(mode="suggestions", agent_kind="http", system_prompt="")
    )
    assert [p.text for p in found.items] == ["Add a refund FAQ."]
    sent = fake_llm.requests[0].json
    item = sent["tools"][0]["input_schema"]["properties"]["candidates"]["items"]
    assert item["required"] == ["rationale", "suggestion"]
    assert "http agent whose prompt you cannot see" in last_user_text(sent)
