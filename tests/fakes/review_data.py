"""Finished runs whose cases a judge graded, written straight to the store, for review tests.

A judged case carries an ``llm_rubric`` check with the judge's score, threshold and (optionally)
samples, as the model-graded check records them; no judge is called.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from aifactory.domain.models import AgentSpec
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
