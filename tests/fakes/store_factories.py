"""Small factories the store tests share (agents, cases, finished results)."""

from __future__ import annotations

from aifactory.domain.models import AgentSpec, CheckResult, CheckSpec, TestCase, TestResult, Usage


def scripted_agent(agent_id: str = "support-bot", *, default: str = "ok") -> AgentSpec:
    """A scripted agent spec (valid, deterministic)."""
    return AgentSpec(id=agent_id, name=agent_id, kind="scripted", config={"default": default})


def make_case(index: int, *, tags: list[str] | None = None) -> TestCase:
    """A small test case named after its index."""
    return TestCase(
        name=f"case {index}",
        input=f"question {index}",
        checks=[CheckSpec(type="contains", value="ok")],
        tags=tags or [],
    )


def make_result(case: TestCase, status: str = "passed", *, output: str = "ok") -> TestResult:
    """A finished result for ``case`` with the given status."""
    passed = status == "passed"
    return TestResult(
        test_case=case,
        status=status,
        passed=passed,
        score=1.0 if passed else 0.0,
        output=output,
        feedback="" if passed else "did not contain 'ok'",
        checks=[
            CheckResult(type="contains", status=status, passed=passed, score=1.0 if passed else 0.0)
        ],
        latency_ms=12.5,
        usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.001),
        judge_usage=Usage(input_tokens=3, output_tokens=2, cost_usd=None),
        error="boom" if status == "error" else None,
    )
