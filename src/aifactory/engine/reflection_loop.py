"""One reflection loop, from the baseline to its stop reason.

1. Split the suite into train and holdout parts (stratified by tag, fixed seed); run the
   agent's current version on both (the baseline).
2. Show the reflector the current system prompt, the failing train cases, a few passing ones and
   the earlier candidates with their measured effect; it proposes candidates with a rationale.
3. Each candidate becomes an agent version (state ``candidate``) and runs on the train part.
4. The best on train (only if it beats the reference there) runs on the holdout part and is
   compared with the reference's holdout run, case by case
   (:func:`aifactory.domain.reflection.judge_candidate`). Accepted: it becomes the agent's
   current version (or ``proposed`` without ``auto_promote``) and the next reference.
5. Stop at the target pass rate, the iteration limit, the budget, a cancel, or two iterations
   in a row without an accepted candidate.

The holdout cases are never shown to the reflector. Every step's measurements are stored as
they happen, so a stop for any reason keeps everything measured so far. For ``http`` and
``scripted`` agents, which have no system prompt to rewrite, the loop measures the baseline and
records the reflector's suggestions, without making versions.

The loop reaches runs and records only through its ports (:mod:`.reflection_ports`); its runs
are kept by :mod:`.reflection_runs`, its versions by :mod:`.reflection_versions`, and what it
reads off them is in :mod:`.reflection_measures`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aifactory.domain.models import AgentSpec, TestCase
from aifactory.domain.reflection import (
    NO_GAIN_LIMIT,
    Baseline,
    Candidate,
    Iteration,
    corrected_alpha,
    split_holdout,
)
from aifactory.domain.runs import NewRun, Run, RunStatus
from aifactory.engine.reflection_measures import (
    Reference,
    judge,
    pass_rate,
    reference_rank,
    train_rank,
    with_prompt,
)
from aifactory.engine.reflection_ports import (
    Proposer,
    ReflectionProgress,
    ReflectionRecords,
    ReflectionRuns,
)
from aifactory.engine.reflection_runs import LoopRuns, Stop, interruptible
from aifactory.engine.reflection_versions import Versions
from aifactory.errors import NotFound
from aifactory.llm.reflector import ReflectionContext, ReflectorError

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
FINAL_STATUS = {
    "target_reached": "completed",
    "max_iterations": "completed",
    "no_gain": "completed",
    "budget": "completed",
    "cancelled": "cancelled",
    "error": "failed",
}
"""The reflection's status for each stop reason."""
SERVER_STOPPED = (
    "The server stopped while this reflection was running; what it measured is kept. Start a "
    "new reflection to go on."
)


class _Abandoned(Exception):
    """The reflection was finished elsewhere (failed as stale); this loop must stop quietly."""


class ReflectionLoop:
    """Runs one stored reflection to its end.

    Args:
        reflection_id: the stored reflection.
        runs: launches, waits for and cancels the loop's runs, and reads their results.
        records: reads the reflection's setup, writes its progress and the agent's versions.
        reflector: makes the reflector for a ``reflector_model`` (None: the server's default).
        cancel: set by this process's service to stop the loop at once.
    """

    def __init__(
        self,
        reflection_id: str,
        *,
        runs: ReflectionRuns,
        records: ReflectionRecords,
        reflector: Callable[[str | None], Proposer],
        cancel: asyncio.Event,
    ) -> None:
        self.id = reflection_id
        self.records = records
        self.make_reflector = reflector
        self.cancel = cancel
        self.runs = LoopRuns(runs, cancel)
        self.accepted: int | None = None
        self.iterations: list[Iteration] = []
        self.baseline: Baseline | None = None
        self.server_stopping = False
        """Set by a stopping server before it sets ``cancel``: the loop ends as failed, not
        cancelled, with what it measured."""

    @property
    def cost(self) -> float:
        """What the reflection spent so far: its runs and the reflector."""
        return self.runs.cost

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run to the end and store the outcome; never raises but ``CancelledError``."""
        beat = asyncio.create_task(self._heartbeat())
        try:
            try:
                await self._run()
                raise Stop("max_iterations")
            except Stop as stop:
                if stop.reason == "cancelled" and self.server_stopping:
                    await self._finish("error", SERVER_STOPPED)
                else:
                    await self._finish(stop.reason, stop.message)
            except ReflectorError as exc:
                self.runs.add_cost(exc.usage.cost_usd)
                await self._finish("error", str(exc))
            except _Abandoned:
                pass
            except NotFound as exc:
                # The agent or the suite was deleted under the loop: an outcome, not a crash.
                gone = f"the {exc.kind} {exc.id!r} was deleted while the reflection ran"
                await self._finish("error", f"The reflection stopped: {gone}.")
            except asyncio.CancelledError:
                await asyncio.shield(self._finish("error", SERVER_STOPPED))
                raise
            except Exception as exc:
                log.exception("Reflection %s failed.", self.id)
                await self._finish("error", f"The reflection stopped on an unexpected error: {exc}")
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _run(self) -> None:
        setup = await self.records.setup(self.id)
        params = setup.params
        self.agent_id, self.params = setup.agent_id, params
        self.suite_id, self.suite_version = setup.suite_id, setup.suite_version
        self.mode = "versions" if setup.agent.kind == "llm" else "suggestions"
        self.alpha = corrected_alpha(params.max_iterations)
        self.reflector = self.make_reflector(params.reflector_model)
        self.versions = Versions(
            self.records,
            setup.agent_id,
            baseline_version=setup.agent_version,
            auto_promote=params.auto_promote,
        )
        cases = setup.cases
        train_idx, holdout_idx = split_holdout([c.tags for c in cases], params.holdout)
        self.train_cases = [cases[i] for i in train_idx]
        self.holdout_cases = [cases[i] for i in holdout_idx]
        self.baseline = Baseline(
            version=setup.agent_version,
            train_cases=len(self.train_cases),
            holdout_cases=len(self.holdout_cases),
        )
        await self._save()

        ref = await self._measure_baseline(self.baseline, setup.agent)
        self._check_target(ref)

        without_gain = 0
        for index in range(1, params.max_iterations + 1):
            self._check_budget()
            accepted = await self._iteration(index, ref)
            if accepted is None:
                without_gain += 1
                if without_gain >= NO_GAIN_LIMIT:
                    raise Stop("no_gain")
            else:
                ref, without_gain = accepted, 0
                self._check_target(ref)

    async def _measure_baseline(self, baseline: Baseline, spec: AgentSpec) -> Reference:
        self._check_budget()
        version = baseline.version
        train_id = await self._launch(version, "baseline train", self.train_cases)
        holdout_id = await self._launch(version, "baseline holdout", self.holdout_cases)
        baseline.train_run_id, baseline.holdout_run_id = train_id, holdout_id
        await self._save()
        runs = await self.runs.wait([train_id, holdout_id])
        baseline.train_pass_rate = pass_rate(runs[train_id])
        baseline.holdout_pass_rate = pass_rate(runs[holdout_id])
        baseline.train_completed = runs[train_id].completed
        baseline.holdout_completed = runs[holdout_id].completed
        await self._save()
        self._raise_if_failed(runs.values())
        return Reference(version, spec, runs[train_id], runs[holdout_id])

    async def _iteration(self, index: int, ref: Reference) -> Reference | None:
        """Ask for candidates and measure them; the accepted one is the next reference."""
        failures, passes = await self.runs.examples(ref.train.id)
        ctx = ReflectionContext(
            mode="versions" if self.mode == "versions" else "suggestions",
            system_prompt=ref.system_prompt,
            agent_kind=ref.spec.kind,
            failures=failures,
            passes=passes,
            history=[c for it in self.iterations for c in it.candidates],
            count=self.params.candidates,
        )
        proposals = await interruptible(self.reflector.propose(ctx), self.cancel)
        self.runs.add_cost(proposals.usage.cost_usd)
        iteration = Iteration(
            index=index, reference_version=ref.version, reflector_cost_usd=proposals.usage.cost_usd
        )
        self.iterations.append(iteration)
        if self.mode == "suggestions":
            iteration.candidates = [
                Candidate(
                    rationale=p.rationale,
                    suggestion=p.text,
                    reason=f"A {ref.spec.kind} agent has no system prompt to rewrite; "
                    "this is a suggestion for its owners, not measured.",
                )
                for p in proposals.items
            ]
            await self._save()
            raise Stop("max_iterations")

        iteration.candidates = await self.versions.add(ref, proposals.items)
        await self._save()
        try:
            return await self._measure(iteration.candidates, ref)
        finally:
            await self.versions.retire(iteration.candidates)
            await self._save()

    async def _measure(self, candidates: list[Candidate], ref: Reference) -> Reference | None:
        """Train every candidate; the best, if better than the reference, faces the holdout."""
        self._check_budget()
        for c in candidates:
            assert c.version is not None
            c.train_run_id = await self._launch(
                c.version, f"v{c.version} train", self.train_cases, share=len(candidates)
            )
        await self._save()
        runs = await self.runs.wait([c.train_run_id for c in candidates if c.train_run_id])
        for c in candidates:
            run = runs.get(c.train_run_id or "")
            c.train_pass_rate = pass_rate(run)
            c.train_completed = run.completed if run else None
        await self._save()
        self._raise_if_failed(runs.values())

        best = max(candidates, key=lambda c: train_rank(c, runs[c.train_run_id or ""]))
        best_train = runs[best.train_run_id or ""]
        for c in candidates:
            if c is not best:
                c.reason = (
                    f"Candidate v{best.version} did better on the train part; only the best "
                    "is tried on the holdout."
                )
        if train_rank(best, best_train) <= reference_rank(ref):
            best.verdict = "rejected"
            best.reason = (
                f"It did no better than v{ref.version} on the train part "
                f"({(best.train_pass_rate or 0):.0%} against {pass_rate(ref.train) or 0.0:.0%})."
            )
            return None
        return await self._holdout(best, best_train, ref)

    async def _holdout(self, best: Candidate, train: Run, ref: Reference) -> Reference | None:
        """Run the best candidate on the holdout and judge it against the reference."""
        self._check_budget()
        assert best.version is not None
        best.holdout_run_id = await self._launch(
            best.version, f"v{best.version} holdout", self.holdout_cases
        )
        await self._save()
        holdout = (await self.runs.wait([best.holdout_run_id]))[best.holdout_run_id]
        best.holdout_pass_rate = pass_rate(holdout)
        best.holdout_completed = holdout.completed
        self._raise_if_failed([holdout])

        on_holdout, judgement = judge(
            await self.runs.outcomes(ref.train.id),
            await self.runs.outcomes(ref.holdout.id),
            await self.runs.outcomes(train.id),
            await self.runs.outcomes(holdout.id),
            alpha=self.alpha,
        )
        best.p_value = judgement.p_value
        best.improvements, best.regressions = on_holdout.mcnemar.c, on_holdout.mcnemar.b
        best.reason = judgement.reason
        if not judgement.accepted:
            best.verdict = "rejected"
            return None
        best.verdict = "accepted"
        adopted = await self.versions.adopt(best.version, previous=self.accepted)
        best.reason = (best.reason or "") + adopted
        self.accepted = best.version
        spec = with_prompt(ref.spec, best.system_prompt or "")
        return Reference(best.version, spec, train, holdout)

    async def _launch(
        self, version: int, label: str, cases: list[TestCase], *, share: int = 1
    ) -> str:
        metadata: dict[str, Any] = {"reflection_id": self.id, "purpose": label}
        if self.params.budget_usd is not None:
            # Runs started together share what is left, so together they cannot overspend it.
            metadata["budget_usd"] = max(0.0, self.params.budget_usd - self.cost) / share
        run = NewRun(
            agent_id=self.agent_id,
            agent_version=version,
            name=f"reflection {self.id[:8]}: {label}",
            suite_id=self.suite_id,
            suite_version=self.suite_version,
            metadata=metadata,
        )
        return await self.runs.launch(run, cases)

    # -- stops, state, cancel -------------------------------------------------------------------

    def _raise_if_failed(self, runs: Iterable[Run]) -> None:
        for run in runs:
            if run.status == RunStatus.COMPLETED:
                continue
            error = run.error or f"the run ended {run.status}"
            if "budget" in error or self._over_budget():
                raise Stop("budget", f"The budget of ${self.params.budget_usd} is spent.")
            if run.status == RunStatus.CANCELLED:
                raise Stop("cancelled", f"Run {run.id} was cancelled.")
            raise Stop("error", f"Run {run.id} failed: {error}")

    def _over_budget(self) -> bool:
        budget = self.params.budget_usd
        return budget is not None and self.cost >= budget

    def _check_budget(self) -> None:
        if self.cancel.is_set():
            raise Stop("cancelled")
        if self._over_budget():
            raise Stop(
                "budget",
                f"The budget of ${self.params.budget_usd} is spent (${self.cost:.4f}).",
            )

    def _check_target(self, ref: Reference) -> None:
        target = self.params.target_pass_rate
        rate = ref.overall_rate
        if target is not None and rate is not None and rate >= target:
            raise Stop("target_reached")

    def _progress(self) -> ReflectionProgress:
        state = {
            "mode": getattr(self, "mode", "versions"),
            "alpha": getattr(self, "alpha", None),
            "suite_version": getattr(self, "suite_version", None),
            "baseline": self.baseline.model_dump(mode="json") if self.baseline else None,
            "iterations": [it.model_dump(mode="json") for it in self.iterations],
        }
        return ReflectionProgress(state=state, cost_usd=self.cost, accepted_version=self.accepted)

    async def _save(self) -> None:
        if not await self.records.save(self.id, self._progress()):
            raise _Abandoned()

    async def _finish(self, reason: str, message: str | None) -> None:
        await self.runs.stop_all()
        await self.records.finish(
            self.id,
            self._progress(),
            status=FINAL_STATUS[reason],
            stop_reason=reason,
            error=message if reason == "error" else None,
        )

    async def _heartbeat(self) -> None:
        """Stamp the heartbeat; a cancel asked of another server process reaches us here."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                if await self.records.heartbeat(self.id):
                    self.cancel.set()
            except Exception:  # a missed beat is harmless; the next one will do
                log.warning("Reflection %s missed a heartbeat.", self.id, exc_info=True)
