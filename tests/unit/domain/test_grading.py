"""Case status, score and feedback from check results."""

from __future__ import annotations

from aifactory.domain.grading import grade, judge_usage
from aifactory.domain.models import CheckResult, TestCase, Usage


def _check(
    type_: str,
    passed: bool,
    score: float,
    weight: float = 1.0,
    status: str | None = None,
    reason: str = "",
    usage: Usage | None = None,
) -> CheckResult:
    return CheckResult(
        type=type_,
        status=status or ("passed" if passed else "failed"),
        passed=passed,
        score=score,
        weight=weight,
        reason=reason,
        usage=usage,
    )


CASE = TestCase(name="c", input="hi")


def test_all_checks_must_pass_without_threshold() -> None:
    status, passed, score, feedback = grade(
        CASE, [_check("contains", True, 1.0), _check("regex", False, 0.0, reason="no match")]
    )
    assert (status, passed) == ("failed", False)
    assert score == 0.5
    assert feedback == "regex: no match"


def test_weights_make_the_score() -> None:
    _, _, score, _ = grade(CASE, [_check("a", True, 1.0, weight=3), _check("b", False, 0.0)])
    assert score == 0.75


def test_threshold_passes_on_weighted_score() -> None:
    case = CASE.model_copy(update={"threshold": 0.7})
    status, passed, _, _ = grade(case, [_check("a", True, 1.0, weight=3), _check("b", False, 0.0)])
    assert (status, passed) == ("passed", True)
    case = CASE.model_copy(update={"threshold": 0.8})
    assert grade(case, [_check("a", True, 1.0, weight=3), _check("b", False, 0.0)])[0] == "failed"


def test_an_errored_check_makes_the_case_an_error_even_above_threshold() -> None:
    case = CASE.model_copy(update={"threshold": 0.1})
    status, passed, _, _ = grade(
        case, [_check("a", True, 1.0), _check("judge", False, 0.0, status="error", reason="down")]
    )
    assert (status, passed) == ("error", False)


def test_no_checks_pass() -> None:
    assert grade(CASE, []) == ("passed", True, 1.0, "")


def test_judge_feedback_shown_when_everything_passed() -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cost_usd=0.001)
    results = [
        _check("llm_rubric", True, 0.9, reason="Polite and correct.", usage=usage),
        _check("llm_rubric", True, 1.0, reason="Good.", usage=usage),
    ]
    assert grade(CASE, results)[3] == "Polite and correct.; Good."
    total = judge_usage(results)
    assert total.input_tokens == 20 and total.cost_usd == 0.002
