"""The CI gate: this run against its baseline, case by case.

The comparison is the one of ``GET /api/v1/runs/compare`` (:func:`compare_outcomes`: cases pair
by name and repeat, McNemar's exact test on pass/fail, the paired score interval, the verdict),
with what a reviewer asks next: what the run costs and how fast the agent answers, against the
baseline.

A baseline of another suite is refused rather than compared (:class:`InvalidInput`; exit 2 on
the command line), naming the cases that do not pair: when no case pairs at all, or when the
suites' names differ and some cases do not pair. A baseline of the same suite may lack the cases
this run added, or hold cases it dropped: those are listed as not compared and left out of the
tests, as the comparison of two server runs does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aifactory.domain.baseline import RunFigures
from aifactory.domain.compare import ALPHA, CaseKey, Comparison, compare_outcomes
from aifactory.errors import InvalidInput

BASE_NAME = "baseline"
HEAD_NAME = "this run"
NAMES_IN_MESSAGE = 20


@dataclass(frozen=True, slots=True)
class Delta:
    """A figure of the baseline and of this run."""

    base: float | None
    head: float | None

    @property
    def change(self) -> float | None:
        """This run's figure minus the baseline's (None when either is unknown)."""
        if self.base is None or self.head is None:
            return None
        return self.head - self.base

    @property
    def relative(self) -> float | None:
        """The change as a share of the baseline's figure (None when that is 0 or unknown)."""
        change = self.change
        if change is None or not self.base:
            return None
        return change / self.base


@dataclass(frozen=True, slots=True)
class GateReport:
    """This run compared with its baseline."""

    suite: str
    comparison: Comparison
    cost_usd: Delta
    latency_p50_ms: Delta
    latency_p95_ms: Delta
    base_metadata: dict[str, object]

    @property
    def regressed(self) -> bool:
        return self.comparison.verdict == "regressed"


def gate(base: RunFigures, head: RunFigures, *, alpha: float = ALPHA) -> GateReport:
    """Compare ``head`` (this run) with ``base`` (its baseline).

    Raises:
        InvalidInput: the baseline is of another suite (the message names the unpaired cases).
    """
    paired = compare_outcomes(base.outcomes, head.outcomes, alpha=alpha)
    unpaired = paired.only_in_base or paired.only_in_head
    renamed = base.suite is not None and head.suite is not None and base.suite != head.suite
    if paired.pairs == 0 or (renamed and unpaired):
        raise InvalidInput(
            _another_suite(base, head, paired.only_in_base, paired.only_in_head),
            details={
                "only_in_base": [k.model_dump() for k in paired.only_in_base],
                "only_in_head": [k.model_dump() for k in paired.only_in_head],
            },
        )
    comparison = Comparison(base=base.brief(BASE_NAME), head=head.brief(HEAD_NAME), **dict(paired))
    return GateReport(
        suite=head.suite or base.suite or "suite",
        comparison=comparison,
        cost_usd=Delta(base.cost_usd, head.cost_usd),
        latency_p50_ms=Delta(base.latency_ms("p50"), head.latency_ms("p50")),
        latency_p95_ms=Delta(base.latency_ms("p95"), head.latency_ms("p95")),
        base_metadata=dict(base.metadata),
    )


def _names(keys: Sequence[CaseKey]) -> str:
    shown = ", ".join(
        repr(k.name) if k.repeat_index == 0 else f"{k.name!r} (repeat {k.repeat_index})"
        for k in keys[:NAMES_IN_MESSAGE]
    )
    more = len(keys) - NAMES_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


def _another_suite(
    base: RunFigures, head: RunFigures, only_base: Sequence[CaseKey], only_head: Sequence[CaseKey]
) -> str:
    if base.suite is not None and head.suite is not None and base.suite != head.suite:
        what = f"The baseline is of another suite ({base.suite!r}; this run's is {head.suite!r})"
    elif not base.outcomes:
        what = "The baseline has no finished cases"
    else:
        what = "The baseline is of another suite: none of its cases pairs with this run's"
    parts = [what]
    if only_base:
        parts.append(f"{len(only_base)} of its cases do not pair: {_names(only_base)}")
    if only_head:
        parts.append(f"{len(only_head)} of this run's have no partner in it: {_names(only_head)}")
    return (
        "; ".join(parts) + ". Cases pair by name and repeat; compare runs of one suite, or "
        "write a new baseline of this one."
    )
