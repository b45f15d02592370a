"""Agent history: flaky cases within a version, and pass rates pooled per version."""

from __future__ import annotations

import pytest

from aifactory.domain.compare import CaseOutcome, RunBrief
from aifactory.domain.trend import FlakyFinder, version_trends


def outcome(name: str, passed: bool, version: int, repeat: int = 0) -> CaseOutcome:
    return CaseOutcome(
        name=name,
        repeat_index=repeat,
        status="passed" if passed else "failed",
        score=1.0 if passed else 0.0,
        agent_version=version,
    )


def test_a_case_that_flips_across_runs_of_one_version_is_flaky() -> None:
    finder = FlakyFinder()
    finder.add_run([outcome("steady", True, 1), outcome("wobbly", True, 1)])
    finder.add_run([outcome("steady", True, 1), outcome("wobbly", False, 1)])
    flaky = finder.flaky()
    assert [f.name for f in flaky] == ["wobbly"]
    assert (flaky[0].passed, flaky[0].total, flaky[0].runs) == (1, 2, 2)
    assert flaky[0].flakiness == pytest.approx(1.0)


def test_a_case_that_flips_across_repeats_is_flaky() -> None:
    finder = FlakyFinder()
    finder.add_run([outcome("r", True, 1, 0), outcome("r", False, 1, 1), outcome("r", True, 1, 2)])
    (case,) = finder.flaky()
    assert (case.passed, case.total, case.runs) == (2, 3, 1)


def test_a_case_fixed_by_a_new_version_is_not_flaky() -> None:
    finder = FlakyFinder()
    finder.add_run([outcome("fixed", False, 1)])
    finder.add_run([outcome("fixed", True, 2)])
    assert finder.flaky() == []


def brief(run_id: str, version: int, passed: int, completed: int, score: float) -> RunBrief:
    return RunBrief(
        run_id=run_id,
        agent_id="a",
        agent_version=version,
        status="completed",
        completed=completed,
        passed=passed,
        mean_score=score,
    )


def test_versions_pool_their_runs_with_a_wilson_interval() -> None:
    rows = version_trends(
        [brief("1", 1, 5, 10, 0.5), brief("2", 2, 9, 10, 0.9), brief("3", 1, 7, 10, 0.7)]
    )
    assert [r.agent_version for r in rows] == [1, 2]
    v1 = rows[0]
    assert (v1.runs, v1.passed, v1.completed) == (2, 12, 20)
    assert v1.pass_rate == pytest.approx(0.6)
    assert v1.mean_score == pytest.approx(0.6)
    assert v1.pass_rate_ci is not None
    # Wilson 95% for 12/20: 0.387 – 0.781
    assert v1.pass_rate_ci.low == pytest.approx(0.3866, abs=1e-3)
    assert v1.pass_rate_ci.high == pytest.approx(0.7812, abs=1e-3)
