"""The reflection loop's records and its pure decisions.

The loop itself (runs, the reflector, the store, over ports) lives in
:mod:`aifactory.engine.reflection_loop`; what is decided without I/O is here, so it can be
tested on its own:

- :func:`split_holdout`: a train/holdout split, stratified by tag, reproducible (fixed seed);
- :func:`prompt_diff`: a unified diff of a candidate's system prompt against its parent's;
- :func:`judge_candidate`: whether a candidate is really better than the reference, from the
  paired comparison on the holdout part and per tag on the whole suite.

A candidate is **accepted** only when (1) McNemar's exact test on the holdout part finds more
improvements than regressions at ``alpha`` (Bonferroni-corrected over the iterations, since the
same holdout cases are tested once per iteration), and (2) no tag, nor the suite as a whole,
regresses significantly (McNemar with regressions outnumbering improvements at the same alpha).
"""

from __future__ import annotations

import difflib
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aifactory.domain.compare import ALPHA, PairedComparison

SPLIT_SEED = 20240601
"""The holdout split's seed: the same suite always splits the same way."""

ReflectionStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
StopReason = Literal["target_reached", "max_iterations", "budget", "no_gain", "cancelled", "error"]
CandidateVerdict = Literal["accepted", "rejected", "not_evaluated"]
ReflectionMode = Literal["versions", "suggestions"]
NO_GAIN_LIMIT = 2
"""Iterations in a row without an accepted candidate after which the loop stops."""


class ReflectionCreate(BaseModel):
    """What ``POST /api/v1/agents/{id}/reflect`` takes (all but ``suite_id`` optional)."""

    model_config = ConfigDict(extra="forbid")

    suite_id: str = Field(min_length=1, max_length=64)
    max_iterations: int = Field(default=3, ge=1, le=20)
    candidates: int = Field(default=3, ge=1, le=10)
    """Candidates the reflector proposes per iteration."""
    holdout: float = Field(default=0.3, gt=0, lt=1)
    """Share of the suite kept out of the reflector's sight and used only to accept."""
    budget_usd: float | None = Field(default=None, ge=0)
    """Stop once the runs and the reflector have cost this much (agent, judge, reflector)."""
    target_pass_rate: float | None = Field(default=None, ge=0, le=1)
    """Stop once the current version's pass rate over the whole suite reaches this."""
    auto_promote: bool = True
    """Make an accepted version the agent's current one (else it is only ``proposed``)."""
    reflector_model: str | None = Field(default=None, min_length=1, max_length=200)
    """``provider:model``; default ``AIFACTORY_REFLECTOR_MODEL``."""


class ReflectionAccepted(BaseModel):
    """The 202 answer to a reflection request."""

    reflection_id: str
    status: ReflectionStatus
    status_url: str


class Baseline(BaseModel):
    """The agent's version before the loop, measured on both parts."""

    version: int
    train_run_id: str | None = None
    holdout_run_id: str | None = None
    train_pass_rate: float | None = None
    holdout_pass_rate: float | None = None
    train_cases: int = 0
    holdout_cases: int = 0
    train_completed: int | None = None
    """Cases of the train run that finished (the pass rate's denominator)."""
    holdout_completed: int | None = None


class Candidate(BaseModel):
    """One proposed change, what it did on each part, and the verdict."""

    version: int | None = None
    """The agent version made for it (None for http and scripted agents: suggestions only)."""
    parent_version: int | None = None
    rationale: str = ""
    system_prompt: str | None = None
    prompt_diff: str | None = None
    """Unified diff of the system prompt against the parent version's."""
    suggestion: str | None = None
    """For agents without a system prompt: what to change, in words."""
    train_run_id: str | None = None
    train_pass_rate: float | None = None
    train_completed: int | None = None
    holdout_run_id: str | None = None
    holdout_pass_rate: float | None = None
    holdout_completed: int | None = None
    p_value: float | None = None
    """McNemar's exact p-value on the holdout part against the reference version."""
    improvements: int | None = None
    """Holdout cases that went from not passed to passed."""
    regressions: int | None = None
    """Holdout cases that went from passed to not passed."""
    verdict: CandidateVerdict = "not_evaluated"
    reason: str | None = None
    """Why the verdict, in a sentence."""


class Iteration(BaseModel):
    """One round: the reflector's candidates and their measurements."""

    index: int
    reference_version: int
    """The version the candidates were made from and compared with."""
    candidates: list[Candidate] = Field(default_factory=list)
    reflector_cost_usd: float | None = None


class ReflectionPublic(BaseModel):
    """A reflection as ``GET /api/v1/reflections/{id}`` answers it."""

    reflection_id: str
    agent_id: str
    suite_id: str
    status: ReflectionStatus
    stop_reason: StopReason | None = None
    error: str | None = None
    mode: ReflectionMode = "versions"
    baseline: Baseline | None = None
    iterations: list[Iteration] = Field(default_factory=list)
    accepted_version: int | None = None
    cost_usd: float = 0.0
    alpha: float = ALPHA
    """The significance level each holdout test used (after the Bonferroni correction)."""
    params: ReflectionCreate
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Judgement(BaseModel):
    """:func:`judge_candidate`'s answer."""

    model_config = ConfigDict(frozen=True)

    accepted: bool
    p_value: float
    reason: str


def corrected_alpha(max_iterations: int, alpha: float = ALPHA) -> float:
    """Bonferroni: the holdout is tested at most once per iteration."""
    return alpha / max(1, max_iterations)


def _stratum(tags: Sequence[str]) -> str:
    return ",".join(sorted(set(tags)))


def split_holdout(
    tags: Sequence[Sequence[str]], fraction: float, *, seed: int = SPLIT_SEED
) -> tuple[list[int], list[int]]:
    """Split case indexes into (train, holdout), stratified by tag, reproducibly.

    Cases with the same set of tags form a stratum; each stratum gives its share of holdout
    cases, rounded so the holdout has ``round(n × fraction)`` cases in all (largest remainders
    first), and never all or none of the suite when it has two cases or more. Within a stratum
    the cases are drawn with ``random.Random(seed)``, so the same suite always splits the same way.

    Returns:
        The train and holdout indexes, each in case order.
    """
    n = len(tags)
    if n < 2:
        raise ValueError("A suite needs at least two cases to be split into train and holdout.")
    strata: dict[str, list[int]] = defaultdict(list)
    for index, case_tags in enumerate(tags):
        strata[_stratum(case_tags)].append(index)
    target = min(n - 1, max(1, round(n * fraction)))
    shares = {key: len(members) * fraction for key, members in strata.items()}
    counts = {key: math.floor(share) for key, share in shares.items()}
    by_remainder = sorted(strata, key=lambda k: (-(shares[k] - counts[k]), k))
    left = target - sum(counts.values())
    for key in by_remainder[:left] if left > 0 else ():
        counts[key] += 1
    rng = random.Random(seed)
    holdout: list[int] = []
    for key in sorted(strata):
        members = strata[key]
        holdout.extend(rng.sample(members, min(len(members), counts[key])))
    chosen = set(holdout)
    return [i for i in range(n) if i not in chosen], sorted(holdout)


def prompt_diff(parent: str, child: str, *, parent_version: int, child_version: int | None) -> str:
    """The unified diff of a system prompt against its parent's (empty when they are equal)."""
    lines = difflib.unified_diff(
        parent.splitlines(keepends=True),
        child.splitlines(keepends=True),
        fromfile=f"v{parent_version}",
        tofile=f"v{child_version}" if child_version is not None else "candidate",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _significant_regression(comparison: PairedComparison, alpha: float) -> bool:
    m = comparison.mcnemar
    return m.b > m.c and m.p_value < alpha


def judge_candidate(
    holdout: PairedComparison,
    by_tag: Mapping[str, PairedComparison],
    overall: PairedComparison,
    *,
    alpha: float,
) -> Judgement:
    """Accept a candidate only when its holdout gain is significant and nothing regresses.

    Args:
        holdout: the candidate's holdout run against the reference's, paired by case.
        by_tag: the same pairing over the whole suite (train and holdout), one per tag.
        overall: the pairing over the whole suite.
        alpha: the significance level (already corrected for the number of iterations).
    """
    m = holdout.mcnemar
    if not (m.c > m.b and m.p_value < alpha):
        return Judgement(
            accepted=False,
            p_value=m.p_value,
            reason=(
                f"The holdout gain is not significant: {m.c} improved and {m.b} regressed "
                f"(McNemar p = {m.p_value:.3g}, needs < {alpha:.3g})."
            ),
        )
    if _significant_regression(overall, alpha):
        o = overall.mcnemar
        return Judgement(
            accepted=False,
            p_value=m.p_value,
            reason=(
                f"The whole suite regressed significantly ({o.b} cases got worse, {o.c} better)."
            ),
        )
    for tag in sorted(by_tag):
        if _significant_regression(by_tag[tag], alpha):
            t = by_tag[tag].mcnemar
            return Judgement(
                accepted=False,
                p_value=m.p_value,
                reason=(
                    f"Cases tagged {tag!r} regressed significantly "
                    f"({t.b} got worse, {t.c} better, p = {t.p_value:.3g})."
                ),
            )
    return Judgement(
        accepted=True,
        p_value=m.p_value,
        reason=(
            f"The holdout improved significantly: {m.c} improved and {m.b} regressed "
            f"(McNemar p = {m.p_value:.3g} < {alpha:.3g}); no tag regressed significantly."
        ),
    )
