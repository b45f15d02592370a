"""A run as the CI gate sees it: its suite, its agent, its summary and one outcome per case.

A *baseline* is the JSON document ``aifactory run --json`` writes (and the pytest plugin's
``--aifactory-json``)::

    {"suite": "refunds", "agent": "support-bot", "metadata": {"branch": "main"},
     "summary": RunSummary, "results": [TestResult, ...]}

Older documents keep the suite and the agent under ``meta``, as a server's JSON report keeps
its run's (``aifactory report RUN --format json``); both read as baselines too. Only what the
gate needs is kept of each result (name, repeat, status, score), so a baseline of any size costs
a few numbers per case, and a result written by a newer version with more fields still reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from aifactory.domain import stats
from aifactory.domain.compare import CaseOutcome, RunBrief
from aifactory.domain.models import CaseStatus, Interval, TestResult
from aifactory.errors import InvalidInput

_STATUSES = frozenset(get_args(CaseStatus))
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What the gate compares of one run."""

    outcomes: list[CaseOutcome]
    """One per finished case, in the run's order."""
    suite: str | None = None
    """The suite's name (None when the document does not say)."""
    agent: str | None = None
    agent_version: int | None = None
    run_id: str | None = None
    """The server's id of the run, when it is a server's run."""
    metadata: dict[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    """The run's own summary (a :class:`~aifactory.domain.models.RunSummary` as a mapping)."""

    @property
    def passed(self) -> int:
        return sum(1 for o in self.outcomes if o.passed)

    @property
    def cost_usd(self) -> float | None:
        """Agent, judge and simulated-user cost of the run, as its summary says."""
        return _number(self.summary.get("cost_usd"))

    def latency_ms(self, quantile: str) -> float | None:
        """A latency percentile of the run (``p50``, ``p95``, ``p99``), as its summary says."""
        latency = self.summary.get("latency_ms")
        return _number(latency.get(quantile)) if isinstance(latency, Mapping) else None

    def brief(self, name: str) -> RunBrief:
        """The run as a comparison shows it, under ``name`` ("baseline", "this run", …)."""
        n = len(self.outcomes)
        passed = self.passed
        errored = sum(1 for o in self.outcomes if o.status == "error")
        scores = [o.score for o in self.outcomes]
        score_ci = self.summary.get("score_ci")
        return RunBrief(
            run_id=_SAFE_ID.sub("", self.run_id or "")[:40] or "local",
            agent_id=self.agent or "agent",
            agent_version=self.agent_version or 0,
            name=name,
            status="completed",
            total=n,
            completed=n,
            passed=passed,
            failed=n - passed - errored,
            errored=errored,
            pass_rate=passed / n if n else None,
            pass_rate_ci=stats.wilson_interval(passed, n),
            mean_score=stats.mean(scores),
            score_ci=_interval(score_ci),
        )


def outcome_of(result: TestResult) -> CaseOutcome:
    """What the gate keeps of a result."""
    return CaseOutcome(
        name=result.test_case.name,
        repeat_index=result.repeat_index,
        status=result.status,
        score=result.score,
        case_index=result.case_index,
        agent_version=result.agent_version,
    )


def figures_of(
    results: Iterable[TestResult],
    *,
    suite: str | None,
    agent: str | None,
    summary: Mapping[str, Any],
    agent_version: int | None = None,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> RunFigures:
    """A run's figures from its results (finished ones only) and its summary."""
    return RunFigures(
        outcomes=[outcome_of(r) for r in results if r.status in _STATUSES],
        suite=suite,
        agent=agent,
        agent_version=agent_version,
        run_id=run_id,
        metadata=dict(metadata or {}),
        summary=summary,
    )


def read_baseline(document: Any, *, source: str) -> RunFigures:
    """The run a baseline document describes.

    Args:
        document: The parsed JSON of an ``aifactory run --json`` file (or a server's JSON report).
        source: Where it came from (a file name), for the error messages.

    Raises:
        InvalidInput: it is not such a document; the message names the first wrong field.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("results"), list):
        raise InvalidInput(
            f"{source} is not the --json output of a run: it has no 'results' list. "
            "Write a baseline with 'aifactory run SUITE --agent AGENT --json FILE'."
        )
    raw_meta = document.get("meta")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    outcomes = [_outcome(item, i, source) for i, item in enumerate(document["results"])]
    summary = document.get("summary")
    metadata = document.get("metadata")
    version = meta.get("agent_version")
    return RunFigures(
        outcomes=[o for o in outcomes if o is not None],
        suite=_text(document.get("suite")) or _text(meta.get("suite")),
        agent=_text(document.get("agent")) or _text(meta.get("agent_id") or meta.get("agent")),
        agent_version=version if isinstance(version, int) else None,
        run_id=_text(document.get("run_id")) or _text(meta.get("run_id")),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        summary=summary if isinstance(summary, Mapping) else {},
    )


def _outcome(item: Any, index: int, source: str) -> CaseOutcome | None:
    where = f"{source}: results[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} is not an object; is it a run's --json output?")
    case = item.get("test_case")
    name = case.get("name") if isinstance(case, Mapping) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}.test_case.name is missing; is it a run's --json output?")
    status: CaseStatus
    match item.get("status"):
        case "passed" | "failed" | "error" as finished:
            status = finished
        case _:
            return None  # a case that had not finished (pending, cancelled) says nothing
    score = item.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise InvalidInput(f"{where}.score must be a number from 0 to 1, not {score!r}.")
    repeat = item.get("repeat_index", 0)
    case_index = item.get("case_index", index)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0:
        raise InvalidInput(f"{where}.repeat_index must be a whole number, 0 or more.")
    return CaseOutcome(
        name=name,
        repeat_index=repeat,
        status=status,
        score=float(score),
        case_index=case_index if isinstance(case_index, int) else index,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _interval(value: Any) -> Interval | None:
    if not isinstance(value, Mapping):
        return None
    low, high = _number(value.get("low")), _number(value.get("high"))
    if low is None or high is None:
        return None
    level = _number(value.get("level"))
    return Interval(low=low, high=high, level=level or 0.95)
