"""What a label counts for, a result's review, agreement per criterion, uncertain results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aifactory.domain.models import CheckResult, CheckSpec, TestCase, TestResult, Usage
from aifactory.domain.review import (
    FACTUALITY_CRITERION,
    Label,
    LabelVote,
    disagreement,
    judge_agreement,
    judged_check,
    latest_votes,
    review_of,
    run_review,
    uncertainty,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RUBRIC = "Says refunds take 30 days."


def rubric_result(
    *,
    passed: bool = True,
    score: float = 0.9,
    samples: list[float] | None = None,
    extra: bool = False,
) -> TestResult:
    specs = [CheckSpec(type="contains", value="30")] if extra else []
    specs.append(CheckSpec(type="llm_rubric", rubric=RUBRIC, threshold=0.5))
    details: dict[str, object] = {"score": score, "threshold": 0.5}
    if samples:
        details["samples"] = samples
    checks = (
        [CheckResult(type="contains", status="passed", passed=True, score=1.0)] if extra else []
    )
    checks.append(
        CheckResult(
            type="llm_rubric",
            status="passed" if passed else "failed",
            passed=passed,
            score=score,
            reason="reasoning",
            details=details,
            usage=Usage(),
        )
    )
    return TestResult(
        id="r1",
        test_case=TestCase(name="refund", input="How long?", checks=specs),
        status="passed" if passed else "failed",
        passed=passed,
        score=score,
        checks=checks,
    )


def label(
    passed: bool, reviewer: str = "alice", *, check: int | None = None, minute: int = 0
) -> Label:
    return Label(
        id=f"{reviewer}-{minute}",
        result_id="r1",
        check=check,
        passed=passed,
        reviewer=reviewer,
        created_at=T0 + timedelta(minutes=minute),
    )


def test_a_result_level_label_counts_for_the_single_judge_check() -> None:
    judged = judged_check(rubric_result(extra=True), None)
    assert judged is not None
    assert (judged.index, judged.check_type, judged.criterion, judged.judge_passed) == (
        1,
        "llm_rubric",
        RUBRIC,
        True,
    )
    assert judged_check(rubric_result(extra=True), 0) is None  # 'contains' is not a judge
    assert judged_check(rubric_result(extra=True), 1) == judged


def test_a_result_level_label_counts_for_nothing_with_two_judge_checks() -> None:
    result = rubric_result()
    two = result.model_copy(
        update={
            "test_case": result.test_case.model_copy(
                update={"checks": [*result.test_case.checks, CheckSpec(type="factuality")]}
            ),
            "checks": [*result.checks, result.checks[0].model_copy(update={"type": "factuality"})],
        }
    )
    assert judged_check(two, None) is None
    second = judged_check(two, 1)
    assert second is not None and second.criterion == FACTUALITY_CRITERION


def test_an_errored_judge_check_has_no_verdict() -> None:
    result = rubric_result()
    errored = result.model_copy(
        update={"checks": [CheckResult(type="llm_rubric", status="error", passed=False, score=0.0)]}
    )
    judged = judged_check(errored, None)
    assert judged is not None and judged.judge_passed is None


def test_review_is_the_majority_of_the_latest_result_level_labels() -> None:
    assert review_of([]) is None
    labels = [
        label(False, "alice", minute=0),
        label(True, "alice", minute=5),  # alice changed her mind: only this one counts
        label(True, "bob", minute=1),
        label(False, "carol", minute=2),
        label(False, "dan", check=1, minute=3),  # a check-level label: counted, not voted
    ]
    review = review_of(labels)
    assert review is not None
    assert (review.labels, review.passed) == (5, True)
    tie = review_of([label(True, "alice"), label(False, "bob")])
    assert tie is not None and tie.passed is None
    only_checks = review_of([label(True, check=1)])
    assert only_checks is not None and only_checks.passed is None


def vote(
    result: str,
    reviewer: str,
    passed: bool,
    judge: bool | None,
    *,
    minute: int = 0,
    target: int = 0,
) -> LabelVote:
    return LabelVote(
        result_id=result,
        reviewer=reviewer,
        passed=passed,
        created_at=T0 + timedelta(minutes=minute),
        label_id=f"{result}-{reviewer}-{minute}",
        target=target,
        check_type="llm_rubric",
        criterion=RUBRIC,
        judge_passed=judge,
    )


def test_latest_votes_keep_one_per_reviewer_and_target() -> None:
    votes = [vote("a", "alice", False, True), vote("a", "alice", True, True, minute=1)]
    assert [v.passed for v in latest_votes(votes)] == [True]


def test_agreement_per_criterion() -> None:
    votes = [
        vote("a", "alice", True, True),  # tp
        vote("b", "alice", False, True),  # fp: the judge passed what alice failed
        vote("c", "alice", True, False),  # fn
        vote("d", "alice", False, False),  # tn
        vote("e", "alice", True, True),  # tp
        vote("f", "alice", True, None),  # the judge errored: left out
        vote("g", "alice", True, True),
        vote("g", "bob", False, True),  # a tie on g: left out of the judge's agreement
    ]
    (found,) = judge_agreement(votes)
    assert (found.check_type, found.criterion, found.labeled) == ("llm_rubric", RUBRIC, 5)
    assert found.confusion.model_dump() == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert found.agreement == pytest.approx(3 / 5)
    assert found.judge_pass_rate == pytest.approx(3 / 5)
    assert found.human_pass_rate == pytest.approx(3 / 5)
    # p_o 0.6, p_e 0.6·0.6 + 0.4·0.4 = 0.52: kappa = 0.08 / 0.48
    assert found.kappa == pytest.approx(1 / 6)
    assert found.kappa_ci is not None and found.agreement_ci is not None
    assert found.reviewers == 2
    # Only g has two reviewers, and they disagree: observed disagreement equals the expected
    # one (D_o = D_e = 2), so alpha is 0.
    assert found.reviewer_alpha == pytest.approx(0.0)


def test_agreement_splits_criteria_and_sorts_by_labeled() -> None:
    other = LabelVote(
        result_id="z",
        reviewer="alice",
        passed=True,
        created_at=T0,
        label_id="z",
        target=0,
        check_type="llm_rubric",
        criterion="Is polite.",
        judge_passed=True,
    )
    votes = [vote("a", "alice", True, True), vote("b", "alice", True, True), other]
    report = judge_agreement(votes)
    assert [(a.criterion, a.labeled) for a in report] == [(RUBRIC, 2), ("Is polite.", 1)]
    # Everyone passed everything: kappa is 0/0, agreement is 1.
    assert report[0].kappa is None and report[0].agreement == 1.0
    assert report[0].reviewer_alpha is None


def test_uncertain_near_the_threshold_or_split_samples() -> None:
    assert uncertainty(rubric_result(score=0.9)) is None
    near = uncertainty(rubric_result(score=0.6))
    assert near is not None and "0.60" in near and "threshold 0.5" in near
    assert uncertainty(rubric_result(score=0.35)) is not None
    assert uncertainty(rubric_result(score=0.34)) is None
    split = uncertainty(rubric_result(score=0.9, samples=[0.2, 0.9, 0.95]))
    assert split is not None and "3 samples split" in split
    assert uncertainty(rubric_result(score=0.9, samples=[0.8, 0.9, 0.95])) is None


def test_disagreement_names_the_reviewer_who_contradicts_the_judge() -> None:
    result = rubric_result(passed=True)
    assert disagreement(result, [label(True)]) is None
    found = disagreement(result, [label(True, "bob"), label(False, "alice", minute=3)])
    assert found == "alice failed what the judge passed (check 0, llm_rubric)"
    # Only the latest label of a reviewer counts.
    assert disagreement(result, [label(False, minute=0), label(True, minute=1)]) is None


def test_run_review_puts_the_people_next_to_the_judge() -> None:
    found = run_review([(True, True), (True, False), (False, False), (True, None)])
    assert (found.labeled, found.human_pass_rate, found.judge_pass_rate) == (3, 1 / 3, 2 / 3)
    assert run_review([]).labeled == 0
