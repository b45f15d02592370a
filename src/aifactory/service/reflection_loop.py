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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aifactory.domain.compare import CaseOutcome, PairedComparison, compare_outcomes
from aifactory.domain.models import AgentSpec, TestCase, TestResult
from aifactory.domain.reflection import (
    NO_GAIN_LIMIT,
    Baseline,
    Candidate,
    Iteration,
    ReflectionCreate,
    corrected_alpha,
    judge_candidate,
    prompt_diff,
    split_holdout,
)
from aifactory.domain.runs import NewRun, Run
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.errors import NotFound
from aifactory.llm.factory import parse_model
from aifactory.llm.reflector import ReflectionContext, Reflector, ReflectorError
from aifactory.queue.summaries import spent_usd
from aifactory.store import agents_repo, reflections_repo, results_repo, runs_repo, suites_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_S = 0.1
HEARTBEAT_S = 2.0
TERMINAL = ("completed", "failed", "cancelled")
FINAL_STATUS = {
    "target_reached": "completed",
    "max_iterations": "completed",
    "no_gain": "completed",
    "budget": "completed",
    "cancelled": "cancelled",
    "error": "failed",
}


class _Stop(Exception):
    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message


SERVER_STOPPED = (
    "The server stopped while this reflection was running; what it measured is kept. Start a "
    "new reflection to go on."
)


class _Abandoned(Exception):
    """The reflection was finished elsewhere (failed as stale); this loop must stop quietly."""


@dataclass(slots=True)
class _Reference:
    """The version candidates are made from and compared with, and its runs."""

    version: int
    spec: AgentSpec
    train: Run
    holdout: Run


def _rate(run: Run | None) -> float | None:
    if run is None or not run.completed:
        return None
    return run.passed / run.completed


def _overall_rate(ref: _Reference) -> float | None:
    done = ref.train.completed + ref.holdout.completed
    return (ref.train.passed + ref.holdout.passed) / done if done else None


def _with_prompt(spec: AgentSpec, system_prompt: str) -> AgentSpec:
    return spec.model_copy(update={"config": {**spec.config, "system_prompt": system_prompt}})


def _mean_score(run: Run) -> float:
    value = (run.summary or {}).get("mean_score")
    return float(value) if isinstance(value, int | float) else 0.0


class ReflectionLoop:
    """Runs one stored reflection to its end.

    Args:
        db: the database.
        engine: gives the provider clients for the reflector.
        enqueue: hands a stored run to the batch queue.
        cancel_run: stops a run (on cancel).
        reflection_id: the stored reflection.
        cancel: set by this process's service to stop the loop at once.
    """

    def __init__(
        self,
        db: Database,
        engine: RunnerFactory,
        *,
        enqueue: Callable[[str, int], Awaitable[None]],
        cancel_run: Callable[[str], Awaitable[object]],
        reflection_id: str,
        cancel: asyncio.Event,
    ) -> None:
        self.db = db
        self.engine = engine
        self.enqueue = enqueue
        self.cancel_run = cancel_run
        self.id = reflection_id
        self.cancel = cancel
        self.cost = 0.0
        self.accepted: int | None = None
        self.iterations: list[Iteration] = []
        self.baseline: Baseline | None = None
        self.state: dict[str, Any] = {}
        self.server_stopping = False
        """Set by a stopping server before it sets ``cancel``: the loop ends as failed, not
        cancelled, with what it measured."""
        self._active_runs: set[str] = set()
        self._promoted: set[int] = set()

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run to the end and store the outcome; never raises but ``CancelledError``."""
        beat = asyncio.create_task(self._heartbeat())
        try:
            try:
                await self._run()
                raise _Stop("max_iterations")
            except _Stop as stop:
                if stop.reason == "cancelled" and self.server_stopping:
                    await self._finish("error", SERVER_STOPPED)
                else:
                    await self._finish(stop.reason, stop.message)
            except ReflectorError as exc:
                self.cost += exc.usage.cost_usd or 0.0
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
        async with self.db.session() as session:
            record = await reflections_repo.get_reflection(session, self.id)
            params = ReflectionCreate.model_validate(record.params)
            agent = await agents_repo.get_agent(session, record.agent_id)
            suite = await suites_repo.get_suite(session, params.suite_id)
            cases = [
                c
                async for c in suites_repo.iter_suite_cases(
                    session, params.suite_id, version=suite.version
                )
            ]
        self.agent_id, self.params = record.agent_id, params
        self.suite_id, self.suite_version = suite.id, suite.version
        self.mode = "versions" if agent.spec.kind == "llm" else "suggestions"
        self.alpha = corrected_alpha(params.max_iterations)
        model_name = params.reflector_model or self.engine.settings.reflector_model
        provider, model = parse_model(model_name)
        self.reflector = Reflector(
            self.engine.clients.get(provider), model, label=f"{provider}:{model}"
        )
        train_idx, holdout_idx = split_holdout([c.tags for c in cases], params.holdout)
        self.train_cases = [cases[i] for i in train_idx]
        self.holdout_cases = [cases[i] for i in holdout_idx]
        self.baseline = Baseline(
            version=agent.version,
            train_cases=len(self.train_cases),
            holdout_cases=len(self.holdout_cases),
        )
        await self._save()

        self._check_budget()
        train_id = await self._start_run(agent.version, "baseline train", self.train_cases)
        holdout_id = await self._start_run(agent.version, "baseline holdout", self.holdout_cases)
        self.baseline.train_run_id, self.baseline.holdout_run_id = train_id, holdout_id
        await self._save()
        runs = await self._wait([train_id, holdout_id])
        self.baseline.train_pass_rate = _rate(runs[train_id])
        self.baseline.holdout_pass_rate = _rate(runs[holdout_id])
        self.baseline.train_completed = runs[train_id].completed
        self.baseline.holdout_completed = runs[holdout_id].completed
        await self._save()
        self._raise_if_failed(runs.values())
        ref = _Reference(agent.version, agent.spec, runs[train_id], runs[holdout_id])
        self._check_target(ref)

        without_gain = 0
        for index in range(1, params.max_iterations + 1):
            self._check_budget()
            accepted = await self._iteration(index, ref)
            if accepted is None:
                without_gain += 1
                if without_gain >= NO_GAIN_LIMIT:
                    raise _Stop("no_gain")
            else:
                ref, without_gain = accepted, 0
                self._check_target(ref)

    async def _iteration(self, index: int, ref: _Reference) -> _Reference | None:
        prompt = str(ref.spec.config.get("system_prompt") or "")
        failures, passes = await self._examples(ref.train.id)
        history = [c for it in self.iterations for c in it.candidates]
        ctx = ReflectionContext(
            mode="versions" if self.mode == "versions" else "suggestions",
            system_prompt=prompt,
            agent_kind=ref.spec.kind,
            failures=failures,
            passes=passes,
            history=history,
            count=self.params.candidates,
        )
        proposals = await self._interruptible(self.reflector.propose(ctx))
        self.cost += proposals.usage.cost_usd or 0.0
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
            raise _Stop("max_iterations")

        async with self.db.write() as session:
            for p in proposals.items:
                spec = _with_prompt(ref.spec, p.text)
                made = await agents_repo.add_version(
                    session,
                    self.agent_id,
                    spec,
                    state="candidate",
                    parent_version=ref.version,
                    rationale=p.rationale,
                )
                iteration.candidates.append(
                    Candidate(
                        version=made.version,
                        parent_version=ref.version,
                        rationale=p.rationale,
                        system_prompt=p.text,
                        prompt_diff=prompt_diff(
                            prompt, p.text, parent_version=ref.version, child_version=made.version
                        ),
                    )
                )
        await self._save()
        try:
            return await self._measure(iteration, ref)
        finally:
            await self._retire(iteration)
            await self._save()

    async def _measure(self, iteration: Iteration, ref: _Reference) -> _Reference | None:
        self._check_budget()
        candidates = iteration.candidates
        for c in candidates:
            assert c.version is not None
            c.train_run_id = await self._start_run(
                c.version, f"v{c.version} train", self.train_cases, share=len(candidates)
            )
        await self._save()
        runs = await self._wait([c.train_run_id for c in candidates if c.train_run_id])
        for c in candidates:
            run = runs.get(c.train_run_id or "")
            c.train_pass_rate = _rate(run)
            c.train_completed = run.completed if run else None
        await self._save()
        self._raise_if_failed(runs.values())

        def rank(c: Candidate) -> tuple[float, float]:
            run = runs[c.train_run_id or ""]
            return (c.train_pass_rate or 0.0, _mean_score(run))

        best = max(candidates, key=rank)
        for c in candidates:
            if c is not best:
                c.reason = (
                    f"Candidate v{best.version} did better on the train part; only the best "
                    "is tried on the holdout."
                )
        ref_rate = _rate(ref.train) or 0.0
        if rank(best) <= (ref_rate, _mean_score(ref.train)):
            best.verdict = "rejected"
            best.reason = (
                f"It did no better than v{ref.version} on the train part "
                f"({(best.train_pass_rate or 0):.0%} against {ref_rate:.0%})."
            )
            return None

        self._check_budget()
        assert best.version is not None
        best.holdout_run_id = await self._start_run(
            best.version, f"v{best.version} holdout", self.holdout_cases
        )
        await self._save()
        holdout_runs = await self._wait([best.holdout_run_id])
        holdout = holdout_runs[best.holdout_run_id]
        best.holdout_pass_rate = _rate(holdout)
        best.holdout_completed = holdout.completed
        self._raise_if_failed([holdout])

        ref_holdout = await self._outcomes(ref.holdout.id)
        new_holdout = await self._outcomes(holdout.id)
        ref_train = await self._outcomes(ref.train.id)
        new_train = await self._outcomes(runs[best.train_run_id or ""].id)
        on_holdout = compare_outcomes([o for o, _ in ref_holdout], [o for o, _ in new_holdout])
        overall, by_tag = _by_tag(ref_train + ref_holdout, new_train + new_holdout)
        judgement = judge_candidate(on_holdout, by_tag, overall, alpha=self.alpha)
        best.p_value = judgement.p_value
        best.improvements, best.regressions = on_holdout.mcnemar.c, on_holdout.mcnemar.b
        best.reason = judgement.reason
        if not judgement.accepted:
            best.verdict = "rejected"
            return None
        best.verdict = "accepted"
        best.reason = (best.reason or "") + await self._adopt(best.version)
        self.accepted = best.version
        spec = _with_prompt(ref.spec, best.system_prompt or "")
        return _Reference(best.version, spec, runs[best.train_run_id or ""], holdout)

    async def _adopt(self, version: int) -> str:
        """Promote the accepted version (or mark it proposed); a sentence on what was done."""
        async with self.db.write() as session:
            agent = await agents_repo.get_agent(session, self.agent_id)
            assert self.baseline is not None
            ours = {self.baseline.version, *self._promoted}
            if self.params.auto_promote and agent.version in ours:
                await agents_repo.promote_version(session, self.agent_id, version)
                self._promoted.add(version)
                return f" v{version} is now the agent's current version."
            if self.accepted is not None and self.accepted not in self._promoted:
                await agents_repo.set_version_state(
                    session, self.agent_id, self.accepted, "archived"
                )
            await agents_repo.set_version_state(session, self.agent_id, version, "proposed")
        if self.params.auto_promote:
            return (
                f" It is only proposed: the agent changed to v{agent.version} during the "
                "reflection, which is left current."
            )
        return f" v{version} is proposed (auto_promote is off)."

    async def _retire(self, iteration: Iteration) -> None:
        """Candidates that were not accepted are archived (kept, out of the way)."""
        async with self.db.write() as session:
            for c in iteration.candidates:
                if c.version is not None and c.verdict != "accepted":
                    await agents_repo.set_version_state(
                        session, self.agent_id, c.version, "archived"
                    )

    # -- runs -----------------------------------------------------------------------------------

    async def _start_run(
        self, version: int, label: str, cases: Sequence[TestCase], *, share: int = 1
    ) -> str:
        metadata: dict[str, Any] = {"reflection_id": self.id, "purpose": label}
        if self.params.budget_usd is not None:
            # Runs started together share what is left, so together they cannot overspend it.
            metadata["budget_usd"] = max(0.0, self.params.budget_usd - self.cost) / share
        async with self.db.write() as session:
            record = await runs_repo.create_run_with_pending_results(
                session,
                NewRun(
                    agent_id=self.agent_id,
                    agent_version=version,
                    name=f"reflection {self.id[:8]}: {label}",
                    suite_id=self.suite_id,
                    suite_version=self.suite_version,
                    metadata=metadata,
                ),
                list(cases),
            )
        self._active_runs.add(record.id)
        await self.enqueue(record.id, record.total)
        return record.id

    async def _wait(self, run_ids: Sequence[str]) -> dict[str, Run]:
        """Wait for the runs to end; their cost joins the reflection's."""
        done: dict[str, Run] = {}
        while True:
            async with self.db.session() as session:
                for run_id in run_ids:
                    if run_id not in done:
                        record = await runs_repo.get_run(session, run_id)
                        if record.status in TERMINAL:
                            done[run_id] = record
            if len(done) == len(run_ids):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancel.wait(), POLL_S)
            if self.cancel.is_set():
                raise _Stop("cancelled")
        for run_id in run_ids:
            self._active_runs.discard(run_id)
            self.cost += await spent_usd(self.db, run_id)
        return done

    def _raise_if_failed(self, runs: Sequence[Run] | Any) -> None:
        for run in runs:
            if run.status == "completed":
                continue
            error = run.error or f"the run ended {run.status}"
            if "budget" in error or self._over_budget():
                raise _Stop("budget", f"The budget of ${self.params.budget_usd} is spent.")
            if run.status == "cancelled":
                raise _Stop("cancelled", f"Run {run.id} was cancelled.")
            raise _Stop("error", f"Run {run.id} failed: {error}")

    async def _outcomes(self, run_id: str) -> list[tuple[CaseOutcome, list[str]]]:
        found: list[tuple[CaseOutcome, list[str]]] = []
        async with self.db.session() as session:
            async for chunk in results_repo.iter_run_results(session, run_id):
                found.extend(
                    (
                        CaseOutcome(
                            name=r.test_case.name,
                            repeat_index=r.repeat_index,
                            status=r.status,
                            score=r.score,
                        ),
                        list(r.test_case.tags),
                    )
                    for r in chunk
                )
        return found

    async def _examples(self, run_id: str) -> tuple[list[TestResult], list[TestResult]]:
        async with self.db.session() as session:
            failures: list[TestResult] = []
            for status in ("failed", "error"):
                page = await results_repo.list_run_results(session, run_id, status=status, limit=20)
                failures.extend(page.items)
            passes = await results_repo.list_run_results(session, run_id, status="passed", limit=3)
        return failures[:20], passes.items

    # -- stops, state, cancel -------------------------------------------------------------------

    def _over_budget(self) -> bool:
        budget = self.params.budget_usd
        return budget is not None and self.cost >= budget

    def _check_budget(self) -> None:
        if self.cancel.is_set():
            raise _Stop("cancelled")
        if self._over_budget():
            raise _Stop(
                "budget",
                f"The budget of ${self.params.budget_usd} is spent (${self.cost:.4f}).",
            )

    def _check_target(self, ref: _Reference) -> None:
        target = self.params.target_pass_rate
        rate = _overall_rate(ref)
        if target is not None and rate is not None and rate >= target:
            raise _Stop("target_reached")

    async def _interruptible(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work``, or stop with ``cancelled`` as soon as a cancel arrives."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.cancel.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():  # cancelled, or this loop itself is being cancelled
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task.cancelled():
            raise _Stop("cancelled")
        return task.result()

    def _document(self) -> dict[str, Any]:
        return {
            "mode": getattr(self, "mode", "versions"),
            "alpha": getattr(self, "alpha", None),
            "suite_version": getattr(self, "suite_version", None),
            "baseline": self.baseline.model_dump(mode="json") if self.baseline else None,
            "iterations": [it.model_dump(mode="json") for it in self.iterations],
        }

    async def _save(self) -> None:
        async with self.db.write() as session:
            alive = await reflections_repo.save_progress(
                session,
                self.id,
                state=self._document(),
                cost_usd=self.cost,
                accepted_version=self.accepted,
            )
        if not alive:
            raise _Abandoned()

    async def _finish(self, reason: str, message: str | None) -> None:
        for run_id in list(self._active_runs):
            with contextlib.suppress(Exception):
                await self.cancel_run(run_id)
            with contextlib.suppress(Exception):
                self.cost += await spent_usd(self.db, run_id)
        self._active_runs.clear()
        async with self.db.write() as session:
            await reflections_repo.save_progress(
                session,
                self.id,
                state=self._document(),
                cost_usd=self.cost,
                accepted_version=self.accepted,
            )
            await reflections_repo.finish(
                session,
                self.id,
                status=FINAL_STATUS[reason],
                stop_reason=reason,
                error=message if reason == "error" else None,
            )

    async def _heartbeat(self) -> None:
        """Stamp the heartbeat; a cancel asked of another server process reaches us here."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                async with self.db.write() as session:
                    if await reflections_repo.heartbeat(session, self.id):
                        self.cancel.set()
            except Exception:  # a missed beat is harmless; the next one will do
                log.warning("Reflection %s missed a heartbeat.", self.id, exc_info=True)


def _by_tag(
    base: list[tuple[CaseOutcome, list[str]]], head: list[tuple[CaseOutcome, list[str]]]
) -> tuple[PairedComparison, dict[str, PairedComparison]]:
    """The whole-suite pairing, and one per tag (a case counts under each of its tags)."""
    overall = compare_outcomes([o for o, _ in base], [o for o, _ in head])
    tags = sorted({t for _, ts in base for t in ts})
    by_tag = {
        tag: compare_outcomes(
            [o for o, ts in base if tag in ts], [o for o, ts in head if tag in ts]
        )
        for tag in tags
    }
    return overall, by_tag
