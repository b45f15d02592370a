"""A runner builds each distinct check once, and keeps a bounded number of them."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.engine.test_runner import EchoAgent

from aifactory.domain.checks import CheckContext, build_check
from aifactory.domain.models import TestCase
from aifactory.engine import case_runner
from aifactory.engine.case_runner import CaseRunner


def _case(*checks: dict[str, Any]) -> TestCase:
    # Every case is parsed anew, as cases read back from the store are: no shared objects.
    return TestCase.model_validate({"name": "c", "input": "hello", "checks": list(checks)})


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    real = build_check

    def counting(spec: Any, **kwargs: Any) -> Any:
        made.append(spec.type)
        return real(spec, **kwargs)

    monkeypatch.setattr(case_runner, "build_check", counting)
    return made


def _runner() -> CaseRunner:
    return CaseRunner(agent=EchoAgent(), ctx=CheckContext(), agent_key="k")


def test_equal_checks_of_separately_parsed_cases_are_built_once(builds: list[str]) -> None:
    runner = _runner()
    first = runner.build_checks(_case({"type": "contains", "value": "hello"}))
    second = runner.build_checks(_case({"type": "contains", "value": "hello"}))
    assert builds == ["contains"]
    assert first == second


def test_a_different_weight_or_negation_is_a_different_check(builds: list[str]) -> None:
    runner = _runner()
    runner.build_checks(_case({"type": "contains", "value": "hello"}))
    runner.build_checks(_case({"type": "contains", "value": "hello", "weight": 2}))
    runner.build_checks(_case({"type": "contains", "value": "hello", "negate": True}))
    assert builds == ["contains"] * 3


async def test_the_built_checks_still_grade_each_case(builds: list[str]) -> None:
    runner = _runner()
    passing = await runner.run(_case({"type": "contains", "value": "echo: hello"}))
    failing = await runner.run(_case({"type": "contains", "value": "bye"}))
    again = await runner.run(_case({"type": "contains", "value": "echo: hello"}))
    assert [r.status for r in (passing, failing, again)] == ["passed", "failed", "passed"]
    assert len(builds) == 2


def test_a_long_stream_of_distinct_checks_keeps_memory_bounded(builds: list[str]) -> None:
    runner = _runner()
    for n in range(3 * case_runner._MAX_BUILT):
        runner.build_checks(_case({"type": "contains", "value": f"word {n}"}))
    assert len(runner._built) <= case_runner._MAX_BUILT
    assert len(builds) == 3 * case_runner._MAX_BUILT
