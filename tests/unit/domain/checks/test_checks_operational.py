"""Latency, cost and tool-call checks."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase, ToolCall, Usage
from aifactory.errors import CheckSpecError

CASE = TestCase(name="weather", input="Weather in Paris tomorrow?")
CALLS = [
    ToolCall(name="search", args={"q": "paris"}),
    ToolCall(
        name="get_weather",
        args={"city": "Paris", "days": 1, "units": {"temp": "C", "wind": "kmh"}, "alerts": True},
    ),
]


async def check(spec: dict[str, Any], **reply: Any) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_check(built, AgentReply(output="ok", **reply), CASE, CheckContext())


async def test_latency_passes_within_the_limit_and_fails_over_it() -> None:
    fast = await check({"type": "latency", "max_ms": 500}, latency_ms=499.6)
    slow = await check({"type": "latency", "max_ms": 500}, latency_ms=812.5)

    assert fast.passed
    assert not slow.passed
    assert slow.reason == "answered in 812 ms, over the limit of 500 ms"


async def test_cost_passes_within_budget_and_fails_over_it() -> None:
    cheap = await check({"type": "cost", "max_usd": 0.01}, usage=Usage(cost_usd=0.004))
    dear = await check({"type": "cost", "max_usd": 0.01}, usage=Usage(cost_usd=0.02))

    assert cheap.passed
    assert not dear.passed
    assert "over the limit of $0.01" in dear.reason


async def test_unknown_cost_is_an_error_not_a_pass() -> None:
    result = await check({"type": "cost", "max_usd": 1.0}, usage=Usage(input_tokens=10))
    negated = await check({"type": "not_cost", "max_usd": 1.0}, usage=Usage(input_tokens=10))

    assert result.status == "error"
    assert not result.passed
    assert "cost is unknown" in result.reason
    assert negated.status == "error"
    assert not negated.passed


@pytest.mark.parametrize(
    ("spec", "passed"),
    [
        ({"name": "get_weather"}, True),
        ({"name": "get_weather", "args": {"city": "Paris"}}, True),
        ({"name": "get_weather", "args": {"units": {"temp": "C", "wind": "kmh"}}}, True),
        ({"name": "get_weather", "args": {"units": {"temp": "C"}}}, False),
        ({"name": "get_weather", "args": {"city": "Lyon"}}, False),
        ({"name": "get_weather", "args": {"days": 1.0}}, True),
        ({"name": "get_weather", "args": {"alerts": 1}}, False),
        ({"name": "get_weather", "args": {"country": "FR"}}, False),
        ({"name": "search", "args": {}}, True),
        ({"name": "book_flight"}, False),
    ],
)
async def test_tool_called_matches_name_and_argument_subset(
    spec: dict[str, Any], passed: bool
) -> None:
    result = await check({"type": "tool_called", **spec}, tool_calls=CALLS)

    assert result.passed is passed


async def test_tool_called_reasons_name_the_calls_made() -> None:
    absent = await check({"type": "tool_called", "name": "book_flight"}, tool_calls=CALLS)
    mismatch = await check(
        {"type": "tool_called", "name": "search", "args": {"q": "lyon"}}, tool_calls=CALLS
    )

    assert absent.reason == (
        "tool 'book_flight' was not called (tools called: get_weather, search)"
    )
    assert mismatch.reason == (
        'tool \'search\' was called 1 time(s) but never with {"q": "lyon"} '
        '(first call: {"q": "paris"})'
    )


async def test_not_tool_called_passes_when_the_tool_was_not_used() -> None:
    assert (await check({"type": "not_tool_called", "name": "delete_account"})).passed
    assert not (
        await check({"type": "tool_called", "name": "search", "negate": True}, tool_calls=CALLS)
    ).passed


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "latency"}, "max_ms"),
        ({"type": "latency", "max_ms": -5}, "max_ms"),
        ({"type": "cost", "max_usd": "cheap"}, "max_usd"),
        ({"type": "tool_called"}, "name"),
        ({"type": "tool_called", "name": "x", "args": ["city"]}, "args"),
    ],
)
def test_invalid_operational_specs_are_refused(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(CheckSpecError) as caught:
        build_check(CheckSpec.model_validate(spec))

    assert caught.value.field == field
