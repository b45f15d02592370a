"""Comparing two runs case by case, and whether the difference is real.

Cases are paired by ``(name, repeat_index)`` (the n-th case of a name in one run pairs with the
n-th case of that name in the other, so duplicated names still pair one to one). On the pairs:

- **McNemar's exact test** on pass/fail: only discordant pairs carry information; ``b`` pairs
  passed in base and not in head (regressions), ``c`` the reverse (improvements). Under "no
  change" each discordant pair is a fair coin, so the two-sided p-value is
  ``min(1, 2 · P[Binomial(b + c, ½) ≤ min(b, c)])``, computed with exact integers.
- A **paired bootstrap** 95% interval on the mean score difference (head − base), seeded so the
  same runs always give the same interval.
- **Effect size**: the mean score difference, Cohen's d on the paired differences (``d_z``: mean
  over standard deviation of the differences), and the pass-rate difference.
- A **verdict** at ``alpha``: McNemar decides when it is significant; otherwise the score interval
  decides when it excludes 0; otherwise "no significant change". When every pair differs by the
  same non-zero amount the interval has no width, and the exact sign test decides instead: ``n``
  pairs all of one sign have the two-sided p-value ``2 · ½ⁿ``.

Pure Python on purpose, like :mod:`aifactory.domain.stats`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aifactory.domain.models import CaseStatus, Interval
from aifactory.domain.stats import z_score

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_MAX_PAIRS = 2000
"""Above this many pairs the bootstrap interval is replaced by its normal limit (see docs)."""

Verdict = Literal["improved", "regressed", "no significant change"]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What comparison and trends need of one result: no output, no checks."""

    name: str
    repeat_index: int
    status: CaseStatus
    score: float
    case_index: int = 0
    agent_version: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class CaseKey(BaseModel):
    """A case of one run without a partner in the other."""

    model_config = ConfigDict(frozen=True)

    name: str
    repeat_index: int


class Flip(BaseModel):
    """A pair whose pass/fail outcome changed between base and head."""

    model_config = ConfigDict(frozen=True)

    name: str
    repeat_index: int
    base_status: CaseStatus
    head_status: CaseStatus
    base_score: float
    head_score: float


class McNemar(BaseModel):
    """McNemar's exact test: ``b`` passed→not passed, ``c`` not passed→passed."""

    model_config = ConfigDict(frozen=True)

    b: int
    c: int
    p_value: float


class ScoreDiff(BaseModel):
    """Mean of head score − base score over the pairs, with its 95% paired bootstrap interval."""

    model_config = ConfigDict(frozen=True)

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    method: Literal["bootstrap", "normal"] = "bootstrap"


class EffectSize(BaseModel):
    """How large the difference is, whatever its p-value."""

    model_config = ConfigDict(frozen=True)

    mean_diff: float | None
    """Mean score difference (head − base)."""
    cohens_d: float | None
    """Mean over standard deviation of the paired differences; None when they do not vary."""
    pass_rate_diff: float | None
    """Head pass rate − base pass rate, over the pairs."""


class PairedComparison(BaseModel):
    """Everything :func:`compare_outcomes` found on the pairs."""

    pairs: int
    """Cases present in both runs (paired by name and repeat index)."""
    base_passed: int
    head_passed: int
    only_in_base: list[CaseKey]
    only_in_head: list[CaseKey]
    flips: list[Flip]
    """Pairs whose pass/fail changed, in head's case order."""
    regressions: list[Flip]
    """Flips from passed to not passed."""
    improvements: list[Flip]
    """Flips from not passed to passed."""
    mcnemar: McNemar
    score_diff: ScoreDiff
    effect_size: EffectSize
    verdict: Verdict
    alpha: float = ALPHA


class RunBrief(BaseModel):
    """A run as a comparison or trend shows it."""

    run_id: str
    agent_id: str
    agent_version: int
    name: str | None = None
    status: str
    created_at: datetime | None = None
    total: int = 0
    completed: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    pass_rate: float | None = None
    pass_rate_ci: Interval | None = None
    mean_score: float | None = None
    score_ci: Interval | None = None


class Comparison(PairedComparison):
    """Two runs compared case by case: what flipped and whether the difference is real."""

    base: RunBrief
    head: RunBrief


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Exact integer arithmetic, so it neither overflows nor underflows for 10,000s of pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"Discordant counts must not be negative, got b={b} and c={c}.")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    term = 1  # C(n, 0), then C(n, i) by the recurrence (cheaper than math.comb per term)
    tail = 0
    for i in range(k + 1):
        tail += term
        term = term * (n - i) // (i + 1)
    return min(1.0, (2 * tail) / (1 << n))


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _sd(values: Sequence[float], m: float) -> float:
    if len(values) < 2:
        return 0.0
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def paired_bootstrap_interval(
    diffs: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    max_pairs: int = BOOTSTRAP_MAX_PAIRS,
) -> ScoreDiff:
    """Percentile bootstrap interval of the mean paired difference.

    The pairs are resampled together (a difference per pair), which keeps the correlation between
    a case's two scores. Above ``max_pairs`` the interval is the bootstrap's normal limit
    (mean ± z·sd/√n, ``z`` the quantile of ``level``), which it matches to within its own noise at
    that size and costs nothing.
    """
    n = len(diffs)
    if n == 0:
        return ScoreDiff(mean=None, ci_low=None, ci_high=None)
    m = _mean(diffs)
    if n == 1 or all(d == diffs[0] for d in diffs):
        return ScoreDiff(mean=m, ci_low=m, ci_high=m)
    if n > max_pairs:
        half = z_score(level) * _sd(diffs, m) / math.sqrt(n)
        return ScoreDiff(mean=m, ci_low=m - half, ci_high=m + half, method="normal")
    rng = random.Random(seed)
    data = list(diffs)
    means = sorted(math.fsum(rng.choices(data, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    low = means[math.floor(tail * (resamples - 1))]
    high = means[math.ceil((1 - tail) * (resamples - 1))]
    return ScoreDiff(mean=m, ci_low=low, ci_high=high)


def cohens_d_paired(diffs: Sequence[float]) -> float | None:
    """Cohen's ``d_z``: mean of the paired differences over their standard deviation.

    None when there are fewer than two pairs or the differences do not vary (the ratio would be
    0/0 or infinite; the mean difference says it all then).
    """
    if len(diffs) < 2:
        return None
    m = _mean(diffs)
    sd = _sd(diffs, m)
    if sd == 0:
        return None
    return m / sd


def decide(
    mcnemar: McNemar, score_diff: ScoreDiff, *, alpha: float = ALPHA, pairs: int = 0
) -> Verdict:
    """The verdict: McNemar first, the score interval when pass/fail says nothing significant.

    An interval without width means every one of the ``pairs`` differs by the same amount (or
    there is one pair); the exact sign test on the pairs decides then, since all ``n`` of one sign
    have the two-sided p-value ``2 · ½ⁿ``: 6 pairs suffice at 0.05, 1 pair never does.
    """
    if mcnemar.p_value < alpha and mcnemar.b != mcnemar.c:
        return "improved" if mcnemar.c > mcnemar.b else "regressed"
    low, high = score_diff.ci_low, score_diff.ci_high
    if low is None or high is None:
        return "no significant change"
    if low == high and not (pairs > 0 and 2.0 * 0.5**pairs < alpha):
        return "no significant change"
    if low > 0:
        return "improved"
    if high < 0:
        return "regressed"
    return "no significant change"


def _keyed(outcomes: Iterable[CaseOutcome]) -> dict[tuple[str, int, int], CaseOutcome]:
    seen: dict[tuple[str, int], int] = {}
    keyed: dict[tuple[str, int, int], CaseOutcome] = {}
    for outcome in outcomes:
        base_key = (outcome.name, outcome.repeat_index)
        nth = seen.get(base_key, 0)
        seen[base_key] = nth + 1
        keyed[(outcome.name, outcome.repeat_index, nth)] = outcome
    return keyed


def compare_outcomes(
    base: Iterable[CaseOutcome],
    head: Iterable[CaseOutcome],
    *,
    alpha: float = ALPHA,
    seed: int = 0,
) -> PairedComparison:
    """Pair two runs' outcomes and test their difference.

    ``base`` is read whole into a dict (a few numbers per case); ``head`` is streamed past it.
    """
    base_by_key = _keyed(base)
    flips: list[Flip] = []
    diffs: list[float] = []
    only_in_head: list[CaseKey] = []
    base_passed = head_passed = b = c = 0
    seen: dict[tuple[str, int], int] = {}
    for h in head:
        nth = seen.get((h.name, h.repeat_index), 0)
        seen[(h.name, h.repeat_index)] = nth + 1
        partner = base_by_key.pop((h.name, h.repeat_index, nth), None)
        if partner is None:
            only_in_head.append(CaseKey(name=h.name, repeat_index=h.repeat_index))
            continue
        diffs.append(h.score - partner.score)
        base_passed += partner.passed
        head_passed += h.passed
        if partner.passed != h.passed:
            if partner.passed:
                b += 1
            else:
                c += 1
            flips.append(
                Flip(
                    name=h.name,
                    repeat_index=h.repeat_index,
                    base_status=partner.status,
                    head_status=h.status,
                    base_score=partner.score,
                    head_score=h.score,
                )
            )
    only_in_base = [CaseKey(name=o.name, repeat_index=o.repeat_index) for o in base_by_key.values()]
    n = len(diffs)
    mcnemar = McNemar(b=b, c=c, p_value=mcnemar_exact(b, c))
    score_diff = paired_bootstrap_interval(diffs, seed=seed)
    effect = EffectSize(
        mean_diff=score_diff.mean,
        cohens_d=cohens_d_paired(diffs),
        pass_rate_diff=(head_passed - base_passed) / n if n else None,
    )
    return PairedComparison(
        pairs=n,
        base_passed=base_passed,
        head_passed=head_passed,
        only_in_base=only_in_base,
        only_in_head=only_in_head,
        flips=flips,
        regressions=[f for f in flips if f.base_status == "passed"],
        improvements=[f for f in flips if f.head_status == "passed"],
        mcnemar=mcnemar,
        score_diff=score_diff,
        effect_size=effect,
        verdict=decide(mcnemar, score_diff, alpha=alpha, pairs=n),
        alpha=alpha,
    )
