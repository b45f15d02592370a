"""Finished runs whose cases a judge graded, written straight to the store, for review tests.

A judged case carries an ``llm_rubric`` check with the judge's score, threshold and (optionally)
samples, as the model-graded check records them; no judge is called.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from aifactory.domain.models import (
    AgentSpec,
    CheckResult,
    CheckSpec,
    TestCase,
    TestResult,
    Usage,
)
from aifactory.domain.review import uncertainty
from aifactory.store import agents_repo
from aifactory.store.database import Database
from aifactory.store.tables import Agent, Result, Run, utcnow

RUBRIC = "States that refunds take 30 days."


@dataclass(frozen=True)
class Judged:
    """One case as the judge graded it."""

    name: str
    score: float
    threshold: float = 0.5
    samples: list[float] | None = None
    extra_check: bool = False
    """Add a deterministic ``contains`` check before the judge's."""
    rubric: str = RUBRIC
    status: str | None = None
    """Force a status (``error``); else passed when score >= threshold."""
    expected: str | None = None
    input: str | None = None
    """What the case asks; else ``question <name>``."""
    output: str | None = None
    """What the agent answered; else ``answer to <name>``."""
    reason: str | None = None
    """The judge's reasoning; else ``The judge's reasoning on <name>.``."""


@dataclass
class SeededRun:
    run_id: str
    result_ids: list[str] = field(default_factory=list)


def _row(run_id: str, agent_id: str, index: int, case: Judged) -> dict[str, Any]:
    passed = case.score >= case.threshold
    status = case.status or ("passed" if passed else "failed")
    details: dict[str, Any] = {"score": case.score, "threshold": case.threshold}
    if case.samples:
        details["samples"] = case.samples
    specs: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    if case.extra_check:
        specs.append({"type": "contains", "value": "30"})
        checks.append({"type": "contains", "status": "passed", "passed": True, "score": 1.0})
    specs.append({"type": "llm_rubric", "rubric": case.rubric, "threshold": case.threshold})
    if status == "error":
        checks.append(
            {
                "type": "llm_rubric",
                "status": "error",
                "passed": False,
                "score": 0.0,
                "reason": "down",
            }
        )
    else:
        checks.append(
            {
                "type": "llm_rubric",
                "status": status,
                "passed": passed,
                "score": case.score,
                "reason": case.reason or f"The judge's reasoning on {case.name}.",
                "details": details,
                "usage": {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0},
            }
        )
    test_case: dict[str, Any] = {"name": case.name, "input": case.input or f"question {case.name}"}
    test_case["checks"] = specs
    if case.expected is not None:
        test_case["expected"] = case.expected
    now = utcnow()
    # As the store decides it when a result is written: what the uncertain queue reads.
    written = TestResult.model_validate(
        {"test_case": test_case, "status": status, "passed": passed, "score": 0, "checks": checks}
    )
    return {
        "id": str(uuid.uuid4()),
        "run_id": run_id,
        "agent_id": agent_id,
        "agent_version": 1,
        "case_index": index,
        "repeat_index": 0,
        "test_case": test_case,
        "tags": "",
        "status": status,
        "passed": status == "passed",
        "score": case.score,
        "feedback": "",
        "output": case.output if case.output is not None else f"answer to {case.name}",
        "checks": checks,
        "tool_calls": [],
        "latency_ms": 10.0,
        "cached": False,
        "attempts": 1,
        "created_at": now,
        "finished_at": now,
        "judge_uncertain": uncertainty(written) is not None,
    }


async def ensure_agent(db: Database, agent_id: str) -> None:
    async with db.write() as session:
        if await session.get(Agent, agent_id) is None:
            await agents_repo.create_agent(
                session,
                AgentSpec(id=agent_id, name=agent_id, kind="scripted", config={"default": "ok"}),
            )


async def judged_run(
    db: Database, agent_id: str, cases: list[Judged], *, suite_id: str | None = None
) -> SeededRun:
    """Store a completed run of ``cases`` for ``agent_id`` (made when missing)."""
    await ensure_agent(db, agent_id)
    run_id = str(uuid.uuid4())
    rows = [_row(run_id, agent_id, i, case) for i, case in enumerate(cases)]
    now = utcnow()
    passed = sum(1 for r in rows if r["status"] == "passed")
    errored = sum(1 for r in rows if r["status"] == "error")
    async with db.write() as session:
        await session.execute(
            insert(Run).values(
                id=run_id,
                agent_id=agent_id,
                agent_version=1,
                suite_id=suite_id,
                status="completed",
                total=len(rows),
                completed=len(rows),
                passed=passed,
                failed=len(rows) - passed - errored,
                errored=errored,
                cancelled=0,
                repeat=1,
                metadata={},
                created_at=now,
                started_at=now,
                finished_at=now,
            )
        )
        if rows:
            await session.execute(insert(Result), rows)
    return SeededRun(run_id=run_id, result_ids=[r["id"] for r in rows])


def planted_results(n: int = 240, *, seed: int = 7) -> list[TestResult]:
    """``n`` finished results covering what decides whether a judge was unsure.

    Judge checks of every kind (``llm_rubric``, ``factuality``, a negated one, a plugin that
    reports a judge's usage) and checks that are no judge's (with the same details); scores near,
    on the edge of (0.15 away) and far from thresholds of 0.3, 0.5 and 0.7; samples that split,
    agree, are empty or are no list; errored checks and errored results; several checks per
    result. Deterministic for a ``seed``.
    """
    rng = random.Random(seed)
    kinds = [
        ("llm_rubric", "llm_rubric", True),
        ("factuality", "factuality", True),
        ("not_llm_rubric", "not_llm_rubric", True),
        ("tone", "tone", True),  # a plugin: a judge because it reports usage
        ("similarity", "similarity", False),  # scores against a threshold, but no judge
    ]
    results: list[TestResult] = []
    for index in range(n):
        specs: list[CheckSpec] = []
        checks: list[CheckResult] = []
        if rng.random() < 0.3:
            specs.append(CheckSpec(type="contains", value="30"))
            checks.append(CheckResult(type="contains", status="passed", passed=True, score=1.0))
        for _ in range(rng.choice([1, 1, 1, 2])):
            spec_type, check_type, has_usage = rng.choice(kinds)
            threshold = rng.choice([0.3, 0.5, 0.7])
            roll = rng.random()
            if roll < 0.2:
                score = threshold + rng.choice([-0.15, 0.15])  # on the edge: uncertain
            elif roll < 0.45:
                score = threshold + rng.uniform(-0.14, 0.14)
            else:
                score = rng.choice([rng.uniform(0.0, 0.1), rng.uniform(0.9, 1.0)])
            score = min(1.0, max(0.0, score))
            details: dict[str, Any] = {"score": score, "threshold": threshold}
            shape = rng.random()
            if shape < 0.25:
                details["samples"] = sorted(
                    min(1.0, max(0.0, score + rng.gauss(0, 0.2))) for _ in range(3)
                )
            elif shape < 0.3:
                details["samples"] = []
            elif shape < 0.35:
                details["samples"] = "n/a"
            elif shape < 0.4:
                details["threshold"] = "0.5"  # not a number: never uncertain
            errored = rng.random() < 0.08
            specs.append(CheckSpec(type=spec_type, rubric=f"rubric {len(specs)}"))
            checks.append(
                CheckResult(
                    type=check_type,
                    status="error" if errored else "passed" if score >= threshold else "failed",
                    passed=not errored and score >= threshold,
                    score=0.0 if errored else score,
                    reason="judged",
                    details=None if errored else details,
                    usage=Usage(input_tokens=5, output_tokens=2) if has_usage else None,
                )
            )
        status = "error" if rng.random() < 0.05 else rng.choice(["passed", "failed"])
        results.append(
            TestResult(
                test_case=TestCase(name=f"planted {index}", input=f"q{index}", checks=specs),
                status=status,
                passed=status == "passed",
                score=checks[-1].score,
                output=f"a{index}",
                checks=checks,
                error="boom" if status == "error" else None,
            )
        )
    return results
