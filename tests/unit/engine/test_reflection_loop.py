"""The reflection loop over in-memory ports: its stop reasons, versions, budget and cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.reflection_ports import (
    HINT,
    InMemoryRecords,
    InMemoryRuns,
    ScriptedReflector,
    agent,
    improving,
    useless,
)

from aifactory.domain.reflection import Iteration, ReflectionCreate
from aifactory.engine.reflection_loop import SERVER_STOPPED, ReflectionLoop
from aifactory.errors import NotFound
from aifactory.llm.reflector import ReflectorError


class World:
    """One reflection's loop and its fake surroundings."""

    def __init__(
        self,
        *,
        reflector: ScriptedReflector,
        kind: str = "llm",
        cost_per_case: float = 0.0,
        hang: bool = False,
        **params: Any,
    ) -> None:
        self.params = ReflectionCreate(suite_id="codes", **params)
        self.records = InMemoryRecords(self.params, spec=agent(kind))
        self.runs = InMemoryRuns(self.records.versions, cost_per_case=cost_per_case, hang=hang)
        self.reflector = reflector
        self.models: list[str | None] = []
        self.cancel = asyncio.Event()
        self.loop = ReflectionLoop(
            "r-1",
            runs=self.runs,
            records=self.records,
            reflector=self._reflector,
            cancel=self.cancel,
        )

    def _reflector(self, model: str | None) -> ScriptedReflector:
        self.models.append(model)
        return self.reflector

    async def run(self) -> tuple[str, str, str | None]:
        await self.loop.run()
        assert self.records.outcome is not None
        return self.records.outcome

    def iterations(self) -> list[Iteration]:
        state = self.records.last.state
        return [Iteration.model_validate(it) for it in state["iterations"]]


async def test_an_improving_candidate_is_promoted_and_the_loop_stops_at_the_target() -> None:
    world = World(
        reflector=ScriptedReflector(improving, cost_usd=0.5),
        holdout=0.5,
        target_pass_rate=0.95,
        reflector_model="anthropic:judge",
    )

    assert await world.run() == ("completed", "target_reached", None)

    (it,) = world.iterations()
    hinted, polite = it.candidates
    assert (hinted.version, hinted.verdict, hinted.holdout_pass_rate) == (2, "accepted", 1.0)
    assert (hinted.improvements, hinted.regressions) == (15, 0)
    assert hinted.reason is not None and "now the agent's current version" in hinted.reason
    assert f"+{HINT}" in (hinted.prompt_diff or "")
    assert (polite.version, polite.verdict, polite.holdout_run_id) == (3, "not_evaluated", None)
    assert world.records.current == 2
    assert world.records.states == {1: "archived", 2: "active", 3: "archived"}
    assert world.records.last.accepted_version == 2
    assert world.records.last.cost_usd == 0.5
    assert world.models == ["anthropic:judge"]
    # Baseline (2 runs), two candidates on train, the best on holdout: every run of one suite.
    assert [r.agent_version for r in world.runs.launched] == [1, 1, 2, 3, 2]
    assert {r.suite_id for r in world.runs.launched} == {"codes"}
    assert world.runs.launched[0].metadata == {"reflection_id": "r-1", "purpose": "baseline train"}


async def test_the_reflector_never_sees_the_holdout_cases() -> None:
    world = World(reflector=ScriptedReflector(useless), holdout=0.5, max_iterations=1)
    await world.run()

    state = world.records.last.state
    train_run, holdout_run = state["baseline"]["train_run_id"], state["baseline"]["holdout_run_id"]
    holdout = {r.test_case.name async for r in _results(world.runs, holdout_run)}
    train = {r.test_case.name async for r in _results(world.runs, train_run)}
    (ctx,) = world.reflector.asked
    shown = {r.test_case.name for r in [*ctx.failures, *ctx.passes]}
    assert len(ctx.failures) == 15 and len(ctx.passes) == 3
    assert shown <= train and not shown & holdout


async def _results(runs: InMemoryRuns, run_id: str) -> Any:
    async for chunk in runs.iter_results(run_id):
        for result in chunk:
            yield result


async def test_without_auto_promote_the_accepted_version_is_only_proposed() -> None:
    world = World(reflector=ScriptedReflector(improving), auto_promote=False, max_iterations=1)

    assert await world.run() == ("completed", "max_iterations", None)
    assert world.records.current == 1
    assert world.records.states == {1: "active", 2: "proposed", 3: "archived"}
    hinted = world.iterations()[0].candidates[0]
    assert hinted.reason is not None and "v2 is proposed (auto_promote is off)" in hinted.reason


async def test_two_iterations_without_gain_stop_the_loop() -> None:
    world = World(reflector=ScriptedReflector(useless), max_iterations=5)

    assert await world.run() == ("completed", "no_gain", None)
    first, second = world.iterations()
    for it in (first, second):
        (candidate,) = it.candidates
        assert candidate.verdict == "rejected" and candidate.holdout_run_id is None
        assert candidate.reason is not None and "did no better than v1" in candidate.reason
    assert world.records.current == 1
    assert world.records.states == {1: "active", 2: "archived", 3: "archived"}


async def test_a_spent_budget_stops_the_loop_before_the_reflector_is_asked() -> None:
    # The baseline's 40 cases cost $0.04.
    world = World(reflector=ScriptedReflector(improving), cost_per_case=0.001, budget_usd=0.03)

    assert await world.run() == ("completed", "budget", None)
    assert world.reflector.asked == []
    assert world.records.last.cost_usd == pytest.approx(0.04)
    # Each run was given what was left of the budget.
    assert [r.metadata["budget_usd"] for r in world.runs.launched] == [0.03, 0.03]


async def test_runs_started_together_share_what_is_left_of_the_budget() -> None:
    world = World(
        reflector=ScriptedReflector(improving, cost_usd=0.01),
        cost_per_case=0.001,
        budget_usd=0.1,
        max_iterations=1,
    )
    await world.run()

    budgets = [r.metadata["budget_usd"] for r in world.runs.launched]
    # Baseline: the whole budget each; two candidates: half of what the baseline and the
    # reflector left ($0.1 - $0.04 - $0.01) each.
    assert budgets[:4] == pytest.approx([0.1, 0.1, 0.025, 0.025])


async def test_a_cancel_stops_the_loop_and_its_runs_at_once() -> None:
    world = World(reflector=ScriptedReflector(improving), hang=True)
    task = asyncio.create_task(world.run())
    await world.runs.waiting.wait()

    world.cancel.set()

    assert await task == ("cancelled", "cancelled", None)
    baseline = world.records.last.state["baseline"]
    assert sorted(world.runs.cancelled) == ["run-1", "run-2"]
    assert (baseline["train_run_id"], baseline["holdout_run_id"]) == ("run-1", "run-2")


async def test_a_stopping_server_fails_the_loop_with_what_it_measured() -> None:
    world = World(reflector=ScriptedReflector(improving), hang=True)
    task = asyncio.create_task(world.run())
    await world.runs.waiting.wait()

    world.loop.server_stopping = True
    world.cancel.set()

    assert await task == ("failed", "error", SERVER_STOPPED)
    assert world.records.last.state["baseline"]["train_run_id"] == "run-1"


async def test_a_deleted_agent_is_an_outcome_not_a_crash() -> None:
    world = World(reflector=ScriptedReflector(improving))
    world.records.missing = NotFound("agent", "coder")

    assert await world.run() == (
        "failed",
        "error",
        "The reflection stopped: the agent 'coder' was deleted while the reflection ran.",
    )


async def test_a_reflector_error_fails_the_loop_and_counts_its_cost() -> None:
    def broken(_: object) -> list[Any]:
        raise ReflectorError("The reflector gave no usable proposal twice.")

    world = World(reflector=ScriptedReflector(broken))

    assert await world.run() == ("failed", "error", "The reflector gave no usable proposal twice.")
    assert world.iterations() == []
    assert world.records.last.state["baseline"]["train_pass_rate"] == 0.25


async def test_agents_without_a_prompt_get_suggestions_and_no_versions() -> None:
    world = World(reflector=ScriptedReflector(useless), kind="scripted")

    assert await world.run() == ("completed", "max_iterations", None)
    assert world.records.last.state["mode"] == "suggestions"
    (it,) = world.iterations()
    (candidate,) = it.candidates
    assert (candidate.version, candidate.verdict) == (None, "not_evaluated")
    assert candidate.suggestion is not None and "Be polite." in candidate.suggestion
    assert set(world.records.versions) == {1}
