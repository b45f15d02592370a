"""Human review: labels on results, what each counts for, and the judge's agreement with them.

A **label** is a reviewer's pass or fail on a result, or on one check of it (``check``, the
check's index). It is measured against a **judge check** (a model-graded check: ``llm_rubric``,
``factuality`` or a plugin that reports a judge's usage):

- a check-level label counts for its check, when that check is a judge's;
- a result-level label counts for the judge check of a result that has exactly one.

Only the latest label of each reviewer on the same target counts. The people's verdict on an
item is the majority of its reviewers' verdicts (a tie gives none, and the item is left out of
the judge's agreement). A **judge criterion** is a check type and its rubric text; agreement is
reported per criterion (:func:`judge_agreement`).

A result's :class:`Review` (``{"labels", "passed"}``) counts its labels and gives the majority of
its result-level labels (None on a tie or when only checks were labeled).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aifactory.domain.agreement import (
    Confusion,
    cohens_kappa,
    krippendorff_alpha_nominal,
    raw_agreement,
)
from aifactory.domain.models import (
    CheckResult,
    Interval,
    Review,
    RunReview,
    TestCase,
    TestResult,
)

ReviewStrategy = Literal["uncertain", "disagreement", "unlabeled"]
REVIEW_STRATEGIES: tuple[ReviewStrategy, ...] = ("uncertain", "disagreement", "unlabeled")
UNCERTAIN_MARGIN = 0.15
"""A judge score this close to its threshold (either side) makes a result uncertain."""
JUDGE_CHECK_TYPES = frozenset({"llm_rubric", "factuality"})
FACTUALITY_CRITERION = "The output agrees with the reference answer."
"""The criterion of every ``factuality`` check: its reference differs from case to case."""


class Label(BaseModel):
    """A reviewer's verdict on a result (``check`` None) or on one of its checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    result_id: str
    check: int | None = None
    passed: bool
    score: float | None = None
    comment: str | None = None
    reviewer: str
    """The name of the API key that wrote the label."""
    api_key_id: str | None = None
    created_at: datetime


class ReviewItem(TestResult):
    """A result in the review queue, with why it is there."""

    review_reason: str


class ReviewQueue(BaseModel):
    """The results most worth a person's time, by one strategy."""

    strategy: ReviewStrategy
    items: list[ReviewItem]


class JudgeAgreement(BaseModel):
    """How far one judge criterion agrees with the people who labeled its items."""

    check_type: str
    criterion: str
    """The rubric text (for ``factuality``: :data:`FACTUALITY_CRITERION`)."""
    labeled: int
    """Items with a people's verdict and a judge's verdict."""
    agreement: float | None = None
    agreement_ci: Interval | None = None
    """Wilson score interval."""
    kappa: float | None = None
    """Cohen's kappa; None when it is 0/0 (judge and people each gave one same verdict to all)."""
    kappa_ci: Interval | None = None
    """kappa ± z·SE, the large-sample SE of Fleiss, Cohen & Everitt (1969)."""
    confusion: Confusion
    judge_pass_rate: float | None = None
    human_pass_rate: float | None = None
    reviewers: int = 0
    """Distinct reviewers who labeled this criterion's items."""
    reviewer_alpha: float | None = None
    """Krippendorff's alpha (nominal) between reviewers, over items two or more labeled."""


class AgreementReport(BaseModel):
    """Agreement per judge criterion, most labeled first."""

    items: list[JudgeAgreement]


@dataclass(frozen=True, slots=True)
class JudgedCheck:
    """What a label is measured against: a judge check of its result."""

    index: int
    check_type: str
    criterion: str
    judge_passed: bool | None
    """The judge's verdict; None when the check errored."""


@dataclass(frozen=True, slots=True)
class LabelVote:
    """One label as agreement reads it (the store copies the judged check onto the label)."""

    result_id: str
    reviewer: str
    passed: bool
    created_at: datetime
    label_id: str
    target: int | None
    """The judged check's index (None: the label counts for no judge check)."""
    check_type: str | None = None
    criterion: str | None = None
    judge_passed: bool | None = None


def _base_type(check_type: str) -> str:
    return check_type[4:] if check_type.startswith("not_") else check_type


def is_judge_check(spec_type: str, result: CheckResult | None) -> bool:
    """Whether a check is model-graded: a known judge type, or one that reports a judge's usage."""
    return _base_type(spec_type) in JUDGE_CHECK_TYPES or (
        result is not None and result.usage is not None
    )


def criterion_of(case: TestCase, index: int) -> str:
    """The criterion of a case's check: its rubric, or what a check of its type judges."""
    spec = case.checks[index]
    params = spec.params
    if _base_type(spec.type) == "factuality":
        return FACTUALITY_CRITERION
    for key in ("rubric", "criteria", "criterion", "prompt"):
        value = params.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return spec.type


def judge_check_indexes(result: TestResult) -> list[int]:
    """The indexes of a result's judge checks."""
    specs = result.test_case.checks
    found = []
    for i, check in enumerate(result.checks):
        spec_type = specs[i].type if i < len(specs) else check.type
        if is_judge_check(spec_type, check):
            found.append(i)
    return found


def judged_check(result: TestResult, check: int | None) -> JudgedCheck | None:
    """The judge check a label on ``result`` (on one ``check``, or on the whole) counts for."""
    indexes = judge_check_indexes(result)
    if check is None:
        if len(indexes) != 1:
            return None
        index = indexes[0]
    elif check in indexes:
        index = check
    else:
        return None
    outcome = result.checks[index]
    specs = result.test_case.checks
    return JudgedCheck(
        index=index,
        check_type=specs[index].type if index < len(specs) else outcome.type,
        criterion=criterion_of(result.test_case, index) if index < len(specs) else outcome.type,
        judge_passed=None if outcome.status == "error" else outcome.passed,
    )


def latest_votes(votes: Iterable[LabelVote]) -> list[LabelVote]:
    """The latest vote of each reviewer on each (result, target); ties broken by label id."""
    latest: dict[tuple[str, int | None, str], LabelVote] = {}
    for vote in votes:
        key = (vote.result_id, vote.target, vote.reviewer)
        seen = latest.get(key)
        if seen is None or (vote.created_at, vote.label_id) > (seen.created_at, seen.label_id):
            latest[key] = vote
    return list(latest.values())


def majority(verdicts: Sequence[bool]) -> bool | None:
    """The majority verdict; None for none or a tie."""
    passes = sum(verdicts)
    fails = len(verdicts) - passes
    if passes == fails:
        return None
    return passes > fails


def review_of(labels: Sequence[Label]) -> Review | None:
    """A result's review: its label count and the majority of its latest result-level labels."""
    if not labels:
        return None
    latest: dict[str, Label] = {}
    for label in labels:
        if label.check is not None:
            continue
        seen = latest.get(label.reviewer)
        if seen is None or (label.created_at, label.id) > (seen.created_at, seen.id):
            latest[label.reviewer] = label
    return Review(labels=len(labels), passed=majority([lb.passed for lb in latest.values()]))


def judge_agreement(votes: Iterable[LabelVote], *, level: float = 0.95) -> list[JudgeAgreement]:
    """Agreement per judge criterion from every label of the items in scope.

    Votes that count for no judge check, or whose judge check errored, are left out; so are items
    whose reviewers tie.
    """
    by_item: dict[tuple[str, str], dict[tuple[str, int], list[LabelVote]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for vote in latest_votes(votes):
        if vote.target is None or vote.check_type is None or vote.judge_passed is None:
            continue
        criterion = (vote.check_type, vote.criterion or vote.check_type)
        by_item[criterion][(vote.result_id, vote.target)].append(vote)
    report = [_criterion_agreement(key, items, level) for key, items in by_item.items()]
    return sorted(report, key=lambda a: (-a.labeled, a.check_type, a.criterion))


def _criterion_agreement(
    key: tuple[str, str], items: Mapping[tuple[str, int], list[LabelVote]], level: float
) -> JudgeAgreement:
    confusion = Confusion()
    reviewers: set[str] = set()
    units: list[list[bool]] = []
    for votes in items.values():
        reviewers.update(v.reviewer for v in votes)
        verdicts = [v.passed for v in votes]
        units.append(verdicts)
        human = majority(verdicts)
        judge = votes[0].judge_passed
        if human is None or judge is None:
            continue
        confusion = confusion.add(judge=judge, human=human)
    n = confusion.total
    raw = raw_agreement(confusion, level=level)
    kappa = cohens_kappa(confusion.matrix(), level=level)
    return JudgeAgreement(
        check_type=key[0],
        criterion=key[1],
        labeled=n,
        agreement=raw[0] if raw else None,
        agreement_ci=raw[1] if raw else None,
        kappa=kappa.kappa if kappa else None,
        kappa_ci=kappa.ci if kappa else None,
        confusion=confusion,
        judge_pass_rate=(confusion.tp + confusion.fp) / n if n else None,
        human_pass_rate=(confusion.tp + confusion.fn) / n if n else None,
        reviewers=len(reviewers),
        reviewer_alpha=krippendorff_alpha_nominal(units) if len(reviewers) > 1 else None,
    )


def uncertainty(result: TestResult, *, margin: float = UNCERTAIN_MARGIN) -> str | None:
    """Why the judge's verdict on ``result`` is uncertain, or None when it is not.

    Uncertain: a judge check scored within ``margin`` of its threshold, or its samples split
    (some at or above the threshold, some below).
    """
    for index in judge_check_indexes(result):
        check = result.checks[index]
        details = check.details or {}
        threshold = details.get("threshold")
        score = details.get("score")
        if not isinstance(threshold, int | float):
            continue
        samples = details.get("samples")
        if isinstance(samples, list) and samples:
            above = sum(1 for s in samples if isinstance(s, int | float) and s >= threshold)
            if 0 < above < len(samples):
                shown = ", ".join(f"{s:.2f}" for s in samples if isinstance(s, int | float))
                return (
                    f"check {index} ({check.type}): the judge's {len(samples)} samples split "
                    f"around the threshold {threshold:g} ({shown})"
                )
        if isinstance(score, int | float) and abs(score - threshold) <= margin + 1e-12:
            return (
                f"check {index} ({check.type}): the judge scored {score:.2f}, within "
                f"{margin:g} of the threshold {threshold:g}"
            )
    return None


def disagreement(result: TestResult, labels: Sequence[Label]) -> str | None:
    """Which latest label contradicts the judge on ``result``, or None."""
    latest: dict[tuple[int | None, str], Label] = {}
    for label in labels:
        key = (label.check, label.reviewer)
        seen = latest.get(key)
        if seen is None or (label.created_at, label.id) > (seen.created_at, seen.id):
            latest[key] = label
    for label in sorted(latest.values(), key=lambda lb: (lb.created_at, lb.id), reverse=True):
        judged = judged_check(result, label.check)
        if judged is None or judged.judge_passed is None or judged.judge_passed == label.passed:
            continue
        human = "passed" if label.passed else "failed"
        judge = "passed" if judged.judge_passed else "failed"
        return (
            f"{label.reviewer} {human} what the judge {judge} "
            f"(check {judged.index}, {judged.check_type})"
        )
    return None


def run_review(pairs: Iterable[tuple[bool, bool | None]]) -> RunReview:
    """A run's review from (judge verdict, people's verdict) per labeled result."""
    judged = [(judge, human) for judge, human in pairs if human is not None]
    n = len(judged)
    if not n:
        return RunReview(labeled=0)
    return RunReview(
        labeled=n,
        human_pass_rate=sum(1 for _, human in judged if human) / n,
        judge_pass_rate=sum(1 for judge, _ in judged if judge) / n,
    )
