"""What the reflection loop reads off its runs, and how it judges a candidate (no I/O).

A candidate is ranked on the train part by pass rate, then mean score; the best faces the
holdout, where it is compared case by case with the reference version and judged by
:func:`aifactory.domain.reflection.judge_candidate` (per tag over the whole suite too).
"""

from __future__ import annotations

from dataclasses import dataclass

from aifactory.domain.compare import CaseOutcome, PairedComparison, compare_outcomes
from aifactory.domain.models import AgentSpec
from aifactory.domain.reflection import Candidate, Judgement, judge_candidate
from aifactory.domain.runs import Run

TaggedOutcome = tuple[CaseOutcome, list[str]]
"""One result as comparisons need it, with its case's tags."""


@dataclass(slots=True)
class Reference:
    """The version candidates are made from and compared with, and its runs."""

    version: int
    spec: AgentSpec
    train: Run
    holdout: Run

    @property
    def system_prompt(self) -> str:
        return str(self.spec.config.get("system_prompt") or "")

    @property
    def overall_rate(self) -> float | None:
        """The pass rate over the whole suite (train and holdout)."""
        done = self.train.completed + self.holdout.completed
        return (self.train.passed + self.holdout.passed) / done if done else None


def pass_rate(run: Run | None) -> float | None:
    """Passed over finished cases (None before any finished)."""
    if run is None or not run.completed:
        return None
    return run.passed / run.completed


def mean_score(run: Run) -> float:
    value = (run.summary or {}).get("mean_score")
    return float(value) if isinstance(value, int | float) else 0.0


def train_rank(candidate: Candidate, run: Run) -> tuple[float, float]:
    """How a candidate ranks on the train part: pass rate, then mean score."""
    return (candidate.train_pass_rate or 0.0, mean_score(run))


def reference_rank(ref: Reference) -> tuple[float, float]:
    """The reference's own rank on the train part, which a candidate must beat."""
    return (pass_rate(ref.train) or 0.0, mean_score(ref.train))


def with_prompt(spec: AgentSpec, system_prompt: str) -> AgentSpec:
    """The agent with another system prompt."""
    return spec.model_copy(update={"config": {**spec.config, "system_prompt": system_prompt}})


def judge(
    ref_train: list[TaggedOutcome],
    ref_holdout: list[TaggedOutcome],
    new_train: list[TaggedOutcome],
    new_holdout: list[TaggedOutcome],
    *,
    alpha: float,
) -> tuple[PairedComparison, Judgement]:
    """The holdout pairing of a candidate with the reference, and the verdict on it."""
    on_holdout = compare_outcomes([o for o, _ in ref_holdout], [o for o, _ in new_holdout])
    overall, tags = by_tag(ref_train + ref_holdout, new_train + new_holdout)
    return on_holdout, judge_candidate(on_holdout, tags, overall, alpha=alpha)


def by_tag(
    base: list[TaggedOutcome], head: list[TaggedOutcome]
) -> tuple[PairedComparison, dict[str, PairedComparison]]:
    """The whole-suite pairing, and one per tag (a case counts under each of its tags)."""
    overall = compare_outcomes([o for o, _ in base], [o for o, _ in head])
    tags = sorted({t for _, ts in base for t in ts})
    per_tag = {
        tag: compare_outcomes(
            [o for o, ts in base if tag in ts], [o for o, ts in head if tag in ts]
        )
        for tag in tags
    }
    return overall, per_tag
