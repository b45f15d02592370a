"""Text checks: equality, substrings, patterns and length, as a suite author writes them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckSpecError

CASE = TestCase(name="refund window", input="Can I get a refund after 40 days?")
ANSWER = "No. Refunds are possible within 30 days of purchase."


async def check(spec: dict[str, Any], output: str = ANSWER, **ctx: Any) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_check(built, AgentReply(output=output), CASE, CheckContext(**ctx))


# (spec, output that passes, output that fails)
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "equals", "value": "Yes"}, " Yes\n", "yes"),
    ({"type": "equals", "value": "Yes", "ignore_case": True}, "YES", "Yes!"),
    ({"type": "equals", "value": 30}, "30", "30 days"),
    ({"type": "contains", "value": "30 days"}, ANSWER, "within a month"),
    ({"type": "icontains", "value": "REFUNDS"}, ANSWER, "no money back"),
    ({"type": "not_contains", "value": "40 days"}, ANSWER, "after 40 days, no"),
    ({"type": "starts_with", "value": "No."}, "  No. Sorry.", "Sorry, no."),
    ({"type": "ends_with", "value": "purchase."}, ANSWER + "\n", "purchase. Thanks"),
    ({"type": "contains_any", "values": ["30 days", "a month"]}, "within a month", "soon"),
    ({"type": "contains_any", "values": ["REFUND"], "ignore_case": True}, ANSWER, "no"),
    ({"type": "contains_all", "values": ["30 days", "purchase"]}, ANSWER, "30 days"),
    ({"type": "contains_all", "values": ["NO", "DAYS"], "ignore_case": True}, ANSWER, "no"),
    ({"type": "regex", "pattern": r"\b\d+ days\b"}, ANSWER, "thirty days"),
    ({"type": "regex", "pattern": "^refunds", "flags": "im"}, ANSWER.replace(". ", ".\n"), ANSWER),
    ({"type": "regex", "pattern": "No.+purchase", "flags": "s"}, "No\n\npurchase", "purchase No"),
    ({"type": "length", "min": 3}, "abc", "ab"),
    ({"type": "length", "max": 3}, "abc", "abcd"),
    ({"type": "length", "min": 2, "max": 3}, "ab", "a"),
]
IDS = [f"{spec['type']}-{i}" for i, (spec, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("spec", "good", "bad"), CASES, ids=IDS)
async def test_check_passes_and_fails(spec: dict[str, Any], good: str, bad: str) -> None:
    passing = await check(spec, good)
    failing = await check(spec, bad)

    assert (passing.status, passing.passed, passing.score) == ("passed", True, 1.0)
    assert failing.status == "failed"
    assert not failing.passed
    assert failing.score < 1.0
    assert passing.reason
    assert failing.reason


@pytest.mark.parametrize(("spec", "good", "bad"), CASES, ids=IDS)
async def test_negation_flips_the_verdict(spec: dict[str, Any], good: str, bad: str) -> None:
    by_flag = {**spec, "negate": True}
    by_prefix = {**spec, "type": f"not_{spec['type']}"}

    for negated in (by_flag, by_prefix):
        assert (await check(negated, good)).passed is False
        flipped = await check(negated, bad)
        assert flipped.passed is True
        assert flipped.status == "passed"
        assert flipped.reason
    assert (await check(by_flag, bad)).reason.startswith("(negated)")


async def test_reasons_say_what_was_found() -> None:
    missing = await check({"type": "contains", "value": "30 days"}, "within a month")
    matched = await check({"type": "regex", "pattern": r"\d+ days"}, ANSWER)

    assert missing.reason == "output does not contain '30 days'"
    at = ANSWER.index("30 days")
    assert matched.reason == f"matched '30 days' at {at}"
    assert matched.details == {"match": "30 days", "start": at}


async def test_contains_all_scores_the_share_found() -> None:
    result = await check({"type": "contains_all", "values": ["a", "b", "c", "d"]}, "a b c")

    assert result.score == pytest.approx(0.75)
    assert not result.passed
    assert "'d'" in result.reason


# Nested repetition on 50,000 a's and a b: the search would backtrack for longer than anyone
# waits, so only the time limit ends it. bench/regex_limit.py prints how long giving up takes.
CATASTROPHIC = {"type": "regex", "pattern": "(a+)+$"}
NEVER_ENDING = "a" * 50000 + "b"
HANG_GUARD_S = 60  # fails a search the limit did not stop, instead of hanging the suite


async def test_a_catastrophic_regex_is_an_error_at_its_time_limit() -> None:
    result = await asyncio.wait_for(
        check(CATASTROPHIC, NEVER_ENDING, regex_timeout_s=0.5), HANG_GUARD_S
    )

    assert result.status == "error"
    assert not result.passed
    assert "ran past its time limit of 0.5 s on 50001 characters" in result.reason


async def test_a_catastrophic_regex_does_not_freeze_other_work() -> None:
    async def other_work() -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    checking = asyncio.create_task(check(CATASTROPHIC, NEVER_ENDING, regex_timeout_s=1.0))
    other = asyncio.create_task(other_work())
    done, _ = await asyncio.wait(
        {checking, other}, timeout=HANG_GUARD_S, return_when=asyncio.FIRST_COMPLETED
    )

    # The loop ran other work to its end while the pattern was still backtracking.
    assert done == {other}
    result = await asyncio.wait_for(checking, HANG_GUARD_S)
    assert result.status == "error"


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"type": "contains"}, "value", "Missing required argument"),
        ({"type": "contains", "value": ["a"]}, "value", "valid string"),
        ({"type": "contains", "value": "a", "valuez": "b"}, "valuez", "Unexpected keyword"),
        ({"type": "contains_any", "values": "abc"}, "values", "valid list"),
        ({"type": "contains_all", "values": []}, "values", "at least 1"),
        ({"type": "equals", "value": "a", "ignore_case": "maybe"}, "ignore_case", "boolean"),
        ({"type": "regex", "pattern": "(unclosed"}, "pattern", "does not compile"),
        ({"type": "regex", "pattern": "a", "flags": "ix"}, "flags", "'ims'"),
        ({"type": "length"}, "min", "needs 'min', 'max' or both"),
        ({"type": "length", "min": 5, "max": 2}, "min", "above 'max'"),
        ({"type": "length", "min": -1}, "min", "greater than or equal to 0"),
    ],
)
def test_invalid_specs_are_refused_when_built(spec: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(CheckSpecError, match=words) as caught:
        build_check(CheckSpec.model_validate(spec))

    assert caught.value.field == field


@given(output=st.text(max_size=40), needle=st.text(min_size=1, max_size=4))
async def test_not_contains_is_the_complement_of_contains(output: str, needle: str) -> None:
    found = await check({"type": "contains", "value": needle}, output)
    absent = await check({"type": "not_contains", "value": needle}, output)

    assert found.passed is (needle in output)
    assert absent.passed is not found.passed
    assert absent.score == 1.0 - found.score


@given(output=st.text(max_size=40), needle=st.text(min_size=1, max_size=4))
async def test_icontains_is_containment_ignoring_case(output: str, needle: str) -> None:
    result = await check({"type": "icontains", "value": needle}, output.swapcase())

    assert result.passed is (needle.casefold() in output.swapcase().casefold())
