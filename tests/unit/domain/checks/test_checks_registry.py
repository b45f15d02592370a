"""The built-in check types as the registry sees them: names, errors, plugins and weights."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.checks import (
    Check,
    CheckContext,
    Outcome,
    base,
    build_check,
    check,
    registry,
    run_check,
)
from aifactory.domain.grading import grade
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckSpecError

DESIGN_TYPES = {
    "equals", "contains", "icontains", "not_contains", "starts_with", "ends_with",
    "contains_any", "contains_all", "regex", "json_valid", "json_schema", "json_path", "length",
    "latency", "cost", "similarity", "semantic_similarity", "llm_rubric", "factuality",
    "tool_called", "python",
}  # fmt: skip
ANSWER = "Refunds are possible within 30 days."


async def run_all(case: TestCase, output: str = ANSWER) -> list[CheckResult]:
    reply = AgentReply(output=output)
    return [await run_check(build_check(spec), reply, case, CheckContext()) for spec in case.checks]


def test_every_check_type_of_the_design_is_registered_with_a_description() -> None:
    known = registry()

    assert set(known) >= DESIGN_TYPES
    for name in DESIGN_TYPES:
        assert known[name].description, name


def test_an_unknown_type_names_the_known_types() -> None:
    with pytest.raises(CheckSpecError) as caught:
        build_check(CheckSpec(type="contans", value="x"))

    message = str(caught.value)
    assert message.startswith("Check type 'contans' is not known. Known types: ")
    assert "contains, contains_all, contains_any" in message
    assert caught.value.field == "type"


def test_parameters_are_documented_for_the_cli() -> None:
    regex = registry()["regex"]

    assert regex.parameters == {"pattern": "str (required)", "flags": "str = ''"}


async def test_a_plugin_check_registers_and_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))

    @check("word_count")
    def word_count(at_most: int) -> Check:
        """Output has at most ``at_most`` words."""

        async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
            n = len(reply.output.split())
            return Outcome(float(n <= at_most), n <= at_most, f"{n} words")

        return run

    case = TestCase(name="short", input="hi")
    built = build_check(CheckSpec(type="not_word_count", at_most=3))
    result = await run_check(built, AgentReply(output="one two three four"), case, CheckContext())

    assert "word_count" in registry()
    assert result.passed
    assert result.reason == "(negated) 4 words"
    with pytest.raises(CheckSpecError, match="at_most"):
        build_check(CheckSpec(type="word_count", at_most="many"))


async def test_weights_make_the_case_score() -> None:
    checks: list[dict[str, Any]] = [
        {"type": "contains", "value": "30 days", "weight": 3},
        {"type": "equals", "value": "Yes", "weight": 1},
    ]
    strict = TestCase(name="strict", input="Refund?", checks=checks)
    lenient = strict.model_copy(update={"threshold": 0.75})

    strict_grade = grade(strict, await run_all(strict))
    lenient_grade = grade(lenient, await run_all(lenient))

    assert strict_grade[:3] == ("failed", False, 0.75)
    assert lenient_grade[:3] == ("passed", True, 0.75)
    assert strict_grade[3] == "equals: output 'Refunds are possible within 30 days.' is not 'Yes'"


async def test_negated_weighted_check_scores_its_complement() -> None:
    checks: list[dict[str, Any]] = [
        {"type": "contains", "value": "40 days", "negate": True, "weight": 2},
        {"type": "not_contains_any", "values": ["30 days"], "weight": 2},
    ]
    case = TestCase(name="negated", input="Refund?", checks=checks)

    status, passed, score, _ = grade(case, await run_all(case))

    assert (status, passed, score) == ("failed", False, 0.5)


async def test_a_check_that_cannot_run_makes_the_case_an_error() -> None:
    checks: list[dict[str, Any]] = [
        {"type": "contains", "value": "30 days"},
        {"type": "cost", "max_usd": 0.01},
    ]
    case = TestCase(name="cost unknown", input="Refund?", checks=checks, threshold=0.5)

    status, passed, _score, feedback = grade(case, await run_all(case))

    assert (status, passed) == ("error", False)
    assert "cost is unknown" in feedback
