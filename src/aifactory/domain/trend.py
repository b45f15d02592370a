"""An agent's history: flaky cases across runs and repeats of the same version.

A case is flaky when the same input on the same agent version both passed and did not pass,
whether in two repeats of one run or in two runs. A case that failed on version 1 and passes on
version 2 is not flaky: the agent changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from aifactory.domain import stats
from aifactory.domain.compare import CaseOutcome, RunBrief
from aifactory.domain.models import Interval


class FlakyCase(BaseModel):
    """A case whose outcome changed without its agent version changing."""

    model_config = ConfigDict(frozen=True)

    name: str
    agent_version: int | None
    passed: int
    total: int
    runs: int
    """In how many of the runs looked at the case appeared."""
    flakiness: float
    """0 when always the same, 1 at half and half (:func:`aifactory.domain.stats.flakiness`)."""


class VersionTrend(BaseModel):
    """An agent version's results over the runs looked at."""

    agent_version: int
    runs: int
    completed: int
    passed: int
    pass_rate: float | None
    pass_rate_ci: Interval | None
    mean_score: float | None
    """Mean of the runs' mean scores weighted by their cases (None when no run has one)."""


class Trend(BaseModel):
    """An agent's recent runs, its versions, and the cases that flip without a change."""

    agent_id: str
    runs: list[RunBrief]
    """Oldest first, newest last (the order a chart draws them)."""
    versions: list[VersionTrend]
    """By version number."""
    flaky_cases: list[FlakyCase]


def version_trends(runs: Iterable[RunBrief]) -> list[VersionTrend]:
    """Pool each version's runs: pass rate with its Wilson interval, weighted mean score."""
    pooled: dict[int, list[float]] = {}
    for run in runs:
        row = pooled.setdefault(run.agent_version, [0, 0, 0, 0.0, 0])
        row[0] += 1
        row[1] += run.completed
        row[2] += run.passed
        if run.mean_score is not None and run.completed:
            row[3] += run.mean_score * run.completed
            row[4] += run.completed
    return [
        VersionTrend(
            agent_version=version,
            runs=int(n_runs),
            completed=int(completed),
            passed=int(passed),
            pass_rate=passed / completed if completed else None,
            pass_rate_ci=stats.wilson_interval(int(passed), int(completed)),
            mean_score=score_sum / scored if scored else None,
        )
        for version, (n_runs, completed, passed, score_sum, scored) in sorted(pooled.items())
    ]


class FlakyFinder:
    """Accumulates outcomes run by run; :meth:`flaky` lists the flaky cases, most flaky first."""

    def __init__(self) -> None:
        # (version, name) -> [passes, total, runs seen, last run seen]
        self._counts: dict[tuple[int | None, str], list[int]] = {}
        self._run_no = 0

    def add_run(self, outcomes: Iterable[CaseOutcome]) -> None:
        """Add one run's outcomes."""
        self._run_no += 1
        for outcome in outcomes:
            key = (outcome.agent_version, outcome.name)
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = [0, 0, 0, 0]
            counts[0] += outcome.passed
            counts[1] += 1
            if counts[3] != self._run_no:
                counts[2] += 1
                counts[3] = self._run_no

    def flaky(self, *, limit: int = 100) -> list[FlakyCase]:
        found = [
            FlakyCase(
                name=name,
                agent_version=version,
                passed=p,
                total=t,
                runs=runs,
                flakiness=stats.flakiness(p, t),
            )
            for (version, name), (p, t, runs, _) in self._counts.items()
            if stats.is_flaky([True] * p + [False] * (t - p))
        ]
        found.sort(key=lambda f: (-f.flakiness, -f.total, f.name))
        return found[:limit]
