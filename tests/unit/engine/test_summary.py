"""The streaming summary."""

from __future__ import annotations

from aifactory.domain.models import TestCase, TestResult, Usage
from aifactory.engine.summary import SummaryBuilder


def _result(
    status: str,
    *,
    cost: float | None,
    tokens: int = 10,
    latency: float = 100.0,
    judge: Usage | None = None,
) -> TestResult:
    return TestResult(
        test_case=TestCase(name="c", input="x", tags=["t"]),
        status=status,  # type: ignore[arg-type]
        passed=status == "passed",
        score=1.0 if status == "passed" else 0.0,
        latency_ms=latency,
        usage=Usage(input_tokens=tokens, output_tokens=tokens, cost_usd=cost),
        judge_usage=judge or Usage(),
    )


def test_unknown_agent_price_makes_cost_unknown() -> None:
    builder = SummaryBuilder(3)
    builder.add(_result("passed", cost=0.5))
    builder.add(_result("failed", cost=None))
    summary = builder.build()
    assert summary.usage.cost_usd is None and summary.cost_usd is None
    assert summary.usage.input_tokens == 20


def test_cost_adds_agent_and_judge() -> None:
    builder = SummaryBuilder(2)
    builder.add(
        _result("passed", cost=0.5, judge=Usage(input_tokens=1, output_tokens=1, cost_usd=0.25))
    )
    builder.add(_result("error", cost=0.0, tokens=0))
    summary = builder.build()
    assert summary.cost_usd == 0.75
    assert summary.errored == 1 and summary.pass_rate == 0.5
    assert summary.latency_ms["p50"] == 100.0  # errors do not count toward latency
    assert summary.by_tag["t"]["passed"] == 1
