"""Model-graded checks against a small scripted judge."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from aifactory.domain.checks import (
    CheckContext,
    JudgeRequest,
    JudgeVerdict,
    build_check,
    run_check,
)
from aifactory.domain.grading import grade, judge_usage
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase, Usage
from aifactory.errors import CheckSpecError, JudgeError

CASE = TestCase(
    name="refund window",
    input=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Refund?"}],
    expected="Refunds are possible within 30 days.",
)
OUTPUT = "Sorry, refunds are only possible within 30 days."


class ScriptedJudge:
    """A judge answering one scripted verdict per sample; it records what it was asked."""

    def __init__(self, verdicts: Sequence[JudgeVerdict | Exception]) -> None:
        self.verdicts = list(verdicts)
        self.requests: list[JudgeRequest] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def grade(self, request: JudgeRequest) -> JudgeVerdict:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            answer = self.verdicts[request.sample]
        finally:
            self.in_flight -= 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def verdict(
    score: float, passed: bool | None = None, reasoning: str = "", **usage: Any
) -> JudgeVerdict:
    return JudgeVerdict(
        score=score,
        passed=score >= 0.5 if passed is None else passed,
        reasoning=reasoning or f"scored {score}",
        usage=Usage(**usage),
    )


async def check(spec: dict[str, Any], judge: Any, *, case: TestCase = CASE) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_check(built, AgentReply(output=OUTPUT), case, CheckContext(judge=judge))


RUBRIC = {"type": "llm_rubric", "rubric": "Politely refuses and states the 30-day policy"}


async def test_llm_rubric_asks_the_judge_and_keeps_its_feedback() -> None:
    judge = ScriptedJudge(
        [
            verdict(
                0.9,
                reasoning="Polite, states the policy.",
                input_tokens=50,
                output_tokens=20,
                cost_usd=0.001,
            )
        ]
    )

    result = await check(RUBRIC, judge)

    assert (result.status, result.score) == ("passed", 0.9)
    assert result.reason == "Polite, states the policy."
    assert result.usage == Usage(input_tokens=50, output_tokens=20, cost_usd=0.001)
    (request,) = judge.requests
    assert request == JudgeRequest(
        kind="rubric",
        criteria=RUBRIC["rubric"],
        input="Refund?",
        output=OUTPUT,
        expected=CASE.expected,
        sample=0,
    )


async def test_llm_rubric_passes_on_its_threshold_not_the_judges_flag() -> None:
    judge = ScriptedJudge([verdict(0.6, passed=False)])

    lenient = await check(RUBRIC, judge)
    strict = await check({**RUBRIC, "threshold": 0.7}, ScriptedJudge([verdict(0.6, passed=True)]))

    assert lenient.passed
    assert lenient.details is not None
    assert lenient.details["judge_passed"] is False
    assert not strict.passed


async def test_several_samples_take_the_median_and_report_the_spread() -> None:
    scores = [0.2, 0.9, 0.6, 0.8, 0.3]
    judge = ScriptedJudge(
        [
            verdict(s, reasoning=f"sample {i}", input_tokens=10, output_tokens=5, cost_usd=0.01)
            for i, s in enumerate(scores)
        ]
    )

    result = await check({**RUBRIC, "samples": 5, "threshold": 0.6}, judge)

    assert result.score == 0.6
    assert result.passed
    assert result.details is not None
    assert result.details["samples"] == scores
    assert (result.details["min"], result.details["max"]) == (0.2, 0.9)
    assert result.details["stdev"] == pytest.approx(statistics.stdev(scores))
    spread = f"(min 0.20, max 0.90, stdev {statistics.stdev(scores):.2f})"
    assert result.reason.startswith(f"median 0.60 of 5 samples {spread}")
    assert result.reason.endswith("sample 2")  # the feedback of the sample at the median
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (50, 25)
    assert result.usage.cost_usd == pytest.approx(0.05)
    assert sorted(r.sample for r in judge.requests) == [0, 1, 2, 3, 4]
    assert judge.most_in_flight == 5  # asked at once, not one after another


async def test_a_median_below_threshold_fails() -> None:
    judge = ScriptedJudge([verdict(0.9), verdict(0.1), verdict(0.2)])

    result = await check({**RUBRIC, "samples": 3}, judge)

    assert (result.passed, result.score) == (False, 0.2)


async def test_without_a_judge_model_graded_checks_are_errors() -> None:
    for spec in (RUBRIC, {"type": "factuality"}):
        result = await check(spec, None)

        assert result.status == "error"
        assert not result.passed
        assert "No judge is configured" in result.reason
        assert "ANTHROPIC_API_KEY" in result.reason


async def test_a_judge_error_is_an_error_result() -> None:
    down = JudgeError("The judge did not answer after 3 retries.")

    single = await check(RUBRIC, ScriptedJudge([down]))
    sampled = await check(
        {**RUBRIC, "samples": 3}, ScriptedJudge([verdict(1.0), down, verdict(1.0)])
    )
    negated = await check({**RUBRIC, "negate": True}, ScriptedJudge([down]))

    for result in (single, sampled, negated):
        assert result.status == "error"
        assert not result.passed
        assert result.reason == "The judge did not answer after 3 retries."


async def test_a_judge_score_that_is_not_a_number_is_an_error() -> None:
    result = await check(RUBRIC, ScriptedJudge([verdict(float("nan"), passed=True)]))

    assert result.status == "error"
    assert "not a number" in result.reason


async def test_factuality_compares_with_expected_and_follows_the_verdict() -> None:
    judge = ScriptedJudge([verdict(0.3, passed=True, reasoning="Consistent with the policy.")])

    result = await check({"type": "factuality"}, judge)

    assert result.passed
    assert result.score == 0.3
    assert result.reason == "Consistent with the policy."
    assert result.usage == Usage()
    (request,) = judge.requests
    assert request.kind == "factuality"
    assert request.criteria == request.expected == CASE.expected


async def test_factuality_value_overrides_expected_and_can_fail() -> None:
    judge = ScriptedJudge([verdict(0.9, passed=False, reasoning="Says 30, reference says 14.")])

    result = await check({"type": "factuality", "value": "Within 14 days."}, judge)

    assert not result.passed
    assert judge.requests[0].criteria == "Within 14 days."


async def test_factuality_without_a_reference_is_an_error() -> None:
    judge = ScriptedJudge([verdict(1.0)])
    case = CASE.model_copy(update={"expected": None})

    result = await check({"type": "factuality"}, judge, case=case)

    assert result.status == "error"
    assert "reference answer" in result.reason
    assert judge.requests == []


async def test_judge_feedback_and_usage_reach_the_case_grade() -> None:
    judge = ScriptedJudge(
        [
            verdict(
                0.8, reasoning="Clear and polite.", input_tokens=7, output_tokens=3, cost_usd=0.002
            )
        ]
    )
    results = [
        await check(RUBRIC, judge),
        await check({"type": "factuality"}, ScriptedJudge([verdict(1.0, reasoning="Accurate.")])),
    ]

    status, passed, score, feedback = grade(CASE, results)

    assert (status, passed) == ("passed", True)
    assert score == pytest.approx(0.9)
    assert feedback == "Clear and polite.; Accurate."
    assert judge_usage(results) == Usage(input_tokens=7, output_tokens=3, cost_usd=0.002)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "llm_rubric"}, "rubric"),
        ({"type": "llm_rubric", "rubric": "   "}, "rubric"),
        ({**RUBRIC, "samples": 0}, "samples"),
        ({**RUBRIC, "samples": 10}, "samples"),
        ({**RUBRIC, "threshold": 2}, "threshold"),
        ({"type": "factuality", "value": ["a"]}, "value"),
    ],
)
def test_invalid_model_graded_specs_are_refused(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(CheckSpecError) as caught:
        build_check(CheckSpec.model_validate(spec))

    assert caught.value.field == field
