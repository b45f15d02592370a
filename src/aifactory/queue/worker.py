"""The worker that executes chunk tokens: claims cases, runs them, records each exactly once.

For one token, :meth:`CaseWorker.process_chunk`:

1. reads the run (a run that is no longer queued or running is left alone) and checks that its
   agent still exists (a deleted agent or version fails the run, with a message saying why);
2. claims up to N of the run's cases under a lease and marks the run ``running``, in one short
   write transaction;
3. runs the claimed cases concurrently, within three bounds: the run's ``concurrency`` (else the
   agent's ``max_concurrency``), the agent's ``max_concurrency`` and rate limit shared by every
   run of that agent in this process, and the worker's own ``concurrency``;
4. records each result with ``complete_case`` (batched, see
   :mod:`aifactory.queue.completions`), which writes nothing for a case the worker no longer
   owns, so a redelivered token or a reclaimed lease never makes a second result;
5. completes the run when no case is left, with its summary in the same transaction, unless
   its agent was deleted meanwhile: then the run fails, saying so.

While cases run, a heartbeat extends the leases the worker holds (every ``lease_s / 3``), and a
poller reads the status of the runs it works on (every ``poll_s``): when a run was cancelled or
failed elsewhere its in-flight cases are cancelled at once, and when its agent was deleted the
run fails with that reason (its cases still held are handed back, what finished is kept).
:meth:`CaseWorker.cancel_run` stops a run's cases without waiting for the poller. A run whose
``metadata.budget_usd`` is spent is failed with "budget exhausted". Cases taken off a stopped run
are released (back to ``pending``), so no row stays ``running``; a cancelled run's rows were
already made ``cancelled`` by ``request_cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aifactory.domain.leases import ClaimedCase
from aifactory.domain.models import AgentSpec, TestResult
from aifactory.domain.runs import ACTIVE, Run, RunStatus
from aifactory.engine.case_runner import CaseRunnerOptions
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.errors import AIFactoryError, NotFound
from aifactory.queue.agent_pool import AgentLimits, AgentPool, PooledAgent
from aifactory.queue.base import DEFAULT_CONCURRENCY
from aifactory.queue.completions import CompletionWriter
from aifactory.queue.summaries import build_summary, result_cost, spent_usd, store_summary
from aifactory.settings import Settings
from aifactory.store import agents_repo, leases_repo, runs_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)

_IDLE_RUNS_KEPT = 256


class _RunCannotGoOn(Exception):
    """The run must fail: its agent or version is gone, or cannot be built."""


def _agent_deleted(agent_id: str) -> str:
    return (
        f"Agent {agent_id!r} was deleted while the run was in progress, so the run cannot go "
        "on; the results it finished are kept. Recreate the agent and start a new run."
    )


@dataclass(eq=False, slots=True)
class _RunState:
    """What this worker knows of a run it works on."""

    run_id: str
    semaphore: asyncio.Semaphore
    budget_usd: float | None
    spent_usd: float | None = None
    tasks: set[asyncio.Task[bool]] = field(default_factory=set)
    chunks: int = 0
    stopping: bool = False
    active: int = 0
    """Cases of this run being executed or recorded right now."""
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever ``active`` is zero."""


def _budget(run: Run) -> float | None:
    value = run.metadata.get("budget_usd")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class CaseWorker:
    """Executes chunk tokens in this process.

    Args:
        db: the database holding runs and their cases.
        engine: builds agents and case runners.
        settings: gives ``lease_s``.
        owner: this worker's name on the leases it takes (unique per process).
        concurrency: cases run at once by this worker, over every run.
        options: how each case runs (python checks are off by default: cases came over the API).
        lease_s: how long a claim holds without a heartbeat (default ``settings.lease_s``).
        poll_s: how often the status of runs in progress is read (to notice cancels).
        agent_pool_size: agent versions kept built.
        limits: where agents' ``max_concurrency`` and rate limits live (default: this process;
            distributed workers share them through Redis).
        on_run_ended: called with a run's id when this worker has completed, failed or stopped
            it (the in-process queue wakes whoever waits for the run).
    """

    def __init__(
        self,
        db: Database,
        engine: RunnerFactory,
        settings: Settings,
        *,
        owner: str,
        concurrency: int = DEFAULT_CONCURRENCY,
        options: CaseRunnerOptions | None = None,
        lease_s: float | None = None,
        poll_s: float = 0.5,
        agent_pool_size: int = 32,
        limits: AgentLimits | None = None,
        on_run_ended: Callable[[str], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("A worker's concurrency must be at least 1.")
        self.owner = owner
        self.concurrency = concurrency
        self.lease_s = lease_s if lease_s is not None else settings.lease_s
        self._db = db
        self._poll_s = poll_s
        self._slots = asyncio.Semaphore(concurrency)
        options = options or CaseRunnerOptions(
            timeout_s=settings.case_timeout_s,
            conversation_timeout_s=settings.conversation_timeout_s,
            allow_python=False,
        )
        self._agents = AgentPool(engine, options, size=agent_pool_size, limits=limits)
        self._completions = CompletionWriter(db, owner)
        self._runs: OrderedDict[str, _RunState] = OrderedDict()
        self._held: set[str] = set()
        self._spawned: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._ended = on_run_ended or (lambda run_id: None)
        self.in_flight = 0
        """Cases whose agent call or checks are running now."""

    @property
    def held(self) -> int:
        """Cases this worker has claimed and not yet recorded (memory in use is bounded by it)."""
        return len(self._held)

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called (new tokens are not taken any more)."""
        return self._closing

    def executing_chunks(self) -> dict[str, int]:
        """Tokens being executed now, per run."""
        return {run_id: s.chunks for run_id, s in self._runs.items() if s.chunks > 0}

    @property
    def busy(self) -> bool:
        """Whether follow-up work (failing or summarising a stopped run) is still going on."""
        return bool(self._spawned)

    async def start(self) -> None:
        """Start the heartbeat, the status poller and the completion writer."""
        self._completions.start()
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="aifactory-heartbeat"),
            asyncio.create_task(self._poll_loop(), name="aifactory-run-poller"),
        ]

    # -- one token ------------------------------------------------------------------------

    async def process_chunk(self, run_id: str, max_cases: int) -> int:
        """Claim up to ``max_cases`` cases of ``run_id``, run them, record them.

        Returns:
            How many results this call recorded (0 when there was nothing to do).
        """
        if self._closing:
            return 0
        try:
            run, spec = await self._load(run_id)
        except NotFound:
            return 0
        except _RunCannotGoOn as exc:
            await self._fail_run(run_id, str(exc), reason="error")
            return 0
        if run.status not in ACTIVE:
            return 0
        try:
            agent = await self._agents.acquire(run.agent_id, run.agent_version, spec)
        except (AIFactoryError, ValueError) as exc:
            await self._fail_run(
                run_id,
                f"Agent {run.agent_id!r} version {run.agent_version} cannot be used: {exc}",
                reason="error",
            )
            return 0
        state = self._state(run, agent.spec)
        state.chunks += 1
        try:
            return await self._process(state, run, agent, max_cases)
        finally:
            state.chunks -= 1
            await self._agents.release(agent)

    async def _process(self, state: _RunState, run: Run, agent: PooledAgent, max_cases: int) -> int:
        if state.stopping:
            return 0
        if state.budget_usd is not None:
            if state.spent_usd is None:
                state.spent_usd = await spent_usd(self._db, run.id)
            if state.spent_usd >= state.budget_usd:
                await self._fail_run(run.id, self._budget_message(state), reason="budget")
                return 0
        claimed = await self._claim(run.id, max_cases)
        if not claimed:
            await self._finish_if_done(run.id)
            return 0
        if state.stopping or self._closing:
            # Stopped while claiming: hand the cases straight back.
            self._held.difference_update(c.result_id for c in claimed)
            await self._release(run.id)
            return 0
        tasks = []
        for case in claimed:
            task = asyncio.create_task(self._run_case(state, agent, case))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
            tasks.append(task)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                log.error("A case of run %s could not be recorded: %s", run.id, outcome)
        await self._finish_if_done(run.id)
        return sum(1 for outcome in outcomes if outcome is True)

    async def _load(self, run_id: str) -> tuple[Run, AgentSpec | None]:
        async with self._db.session() as session:
            run = await runs_repo.get_run(session, run_id)
            if run.status not in ACTIVE:
                return run, None
            if not await agents_repo.agent_exists(session, run.agent_id):
                raise _RunCannotGoOn(
                    f"Agent {run.agent_id!r} was deleted, so the run cannot go on; "
                    "recreate the agent and start a new run."
                )
            if self._agents.cached(run.agent_id, run.agent_version):
                return run, None
            try:
                version = await agents_repo.get_version(session, run.agent_id, run.agent_version)
            except NotFound as exc:
                raise _RunCannotGoOn(
                    f"Version {run.agent_version} of agent {run.agent_id!r} no longer exists, "
                    "so the run cannot go on; start a new run on an existing version."
                ) from exc
            return run, version.spec

    def _state(self, run: Run, spec: AgentSpec) -> _RunState:
        state = self._runs.get(run.id)
        if state is None:
            limit = min(run.concurrency or spec.max_concurrency, self.concurrency)
            state = _RunState(run.id, asyncio.Semaphore(max(1, limit)), _budget(run))
            self._runs[run.id] = state
            self._forget_idle_runs()
        self._runs.move_to_end(run.id)
        return state

    def _forget_idle_runs(self) -> None:
        excess = len(self._runs) - _IDLE_RUNS_KEPT
        if excess > 0:
            idle = [k for k, s in self._runs.items() if s.chunks == 0 and not s.tasks][:excess]
            for run_id in idle:
                del self._runs[run_id]

    async def _claim(self, run_id: str, max_cases: int) -> list[ClaimedCase]:
        async with self._db.write() as session:
            claimed = await leases_repo.claim_cases(
                session, run_id, self.owner, lease_s=self.lease_s, limit=max_cases
            )
            if claimed:
                await runs_repo.mark_running(session, run_id)
        self._held.update(c.result_id for c in claimed)
        return claimed

    def _over_budget(self, state: _RunState) -> bool:
        return (
            state.budget_usd is not None
            and state.spent_usd is not None
            and state.spent_usd >= state.budget_usd
        )

    async def _run_case(self, state: _RunState, agent: PooledAgent, case: ClaimedCase) -> bool:
        recorded = False
        try:
            async with state.semaphore, agent.semaphore, self._slots:
                if state.stopping or self._over_budget(state):
                    # Spent while this case waited for a slot: the run's release hands it back.
                    return False
                state.active += 1
                state.idle.clear()
                try:
                    await agent.limiter.acquire()
                    self.in_flight += 1
                    try:
                        result = await self._execute(agent, case)
                    finally:
                        self.in_flight -= 1
                    # Count the spend now, not when the completion is flushed, so cases
                    # waiting for a slot see it at once.
                    if state.budget_usd is not None and state.spent_usd is not None:
                        state.spent_usd += result_cost(result)
                    recorded = await self._completions.submit(case.result_id, result)
                finally:
                    state.active -= 1
                    if state.active == 0:
                        state.idle.set()
        finally:
            self._held.discard(case.result_id)
        if self._over_budget(state) and not state.stopping:
            self._spawn(self._fail_run(state.run_id, self._budget_message(state), "budget"))
        return recorded

    async def _execute(self, agent: PooledAgent, case: ClaimedCase) -> TestResult:
        try:
            return await agent.runner.run(
                case.test_case, case_index=case.case_index, repeat_index=case.repeat_index
            )
        except Exception as exc:  # the runner turns failures into results; this is a bug
            log.exception("Running case %s of run %s failed.", case.case_index, case.run_id)
            return TestResult(
                test_case=case.test_case,
                case_index=case.case_index,
                repeat_index=case.repeat_index,
                status="error",
                passed=False,
                score=0.0,
                error=f"The worker failed while running the case ({type(exc).__name__}: {exc}).",
                feedback="The case could not be run; see the worker's log.",
            )

    async def _finish_if_done(self, run_id: str) -> None:
        async with self._db.session() as session:
            run = await runs_repo.get_run(session, run_id)
            # The counters change with the rows, so they tell when no case is pending or running.
            if run.status not in ACTIVE or run.completed + run.cancelled < run.total:
                return
            agent_exists = await agents_repo.agent_exists(session, run.agent_id)
        if not agent_exists:
            await self._fail_run(run_id, _agent_deleted(run.agent_id), reason="error", drain=True)
            return
        # Computed first, so the run is never seen completed without its summary.
        summary = await build_summary(self._db, run_id)
        async with self._db.write() as session:
            await leases_repo.finish_run_if_done(
                session, run_id, summary=summary.model_dump(mode="json")
            )
        self._ended(run_id)

    # -- stopping runs ------------------------------------------------------------------------

    @staticmethod
    def _budget_message(state: _RunState) -> str:
        return (
            f"Run stopped: budget exhausted (${state.spent_usd or 0.0:.4f} spent of the "
            f"${state.budget_usd or 0.0:.4f} in metadata.budget_usd). Raise budget_usd and "
            "start a new run to evaluate the remaining cases."
        )

    async def _fail_run(self, run_id: str, error: str, reason: str, *, drain: bool = False) -> None:
        """Fail the run; with ``drain`` (always for a spent budget) let running cases finish."""
        state = self._runs.get(run_id)
        if state is not None:
            if state.stopping:
                return
            state.stopping = True
            if (drain or reason == "budget") and state.active:
                # Stop cleanly: no case starts any more, the ones already running are recorded
                # (before the summary, which would otherwise miss them).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.idle.wait(), timeout=30)
        # The summary goes in with the status, so the run is never seen failed without one; it
        # is stored again once this worker's cases have stopped, to count any that finished.
        summary = await build_summary(self._db, run_id, stopped_reason=reason)
        async with self._db.write() as session:
            changed = await runs_repo.set_run_status(
                session,
                run_id,
                RunStatus.FAILED,
                error=error,
                summary=summary.model_dump(mode="json"),
            )
        log.warning("Run %s failed: %s", run_id, error)
        await self._stop_local(run_id)
        if changed:
            await store_summary(self._db, run_id, stopped_reason=reason)
        self._ended(run_id)

    async def cancel_run(self, run_id: str) -> None:
        """Stop this worker's in-flight cases of a run now (the run was cancelled).

        Cases still held are released; a run that is really cancelled gets its summary of what
        finished. Calling it for a run that is still active only hands its cases back.
        """
        await self._stop_local(run_id)
        await self._summarise_if_stopped(run_id)
        self._ended(run_id)

    async def _summarise_if_stopped(self, run_id: str) -> None:
        async with self._db.session() as session:
            try:
                run = await runs_repo.get_run(session, run_id)
            except NotFound:
                return
        if run.status == RunStatus.CANCELLED and run.summary is None:
            await store_summary(self._db, run_id, stopped_reason="cancelled")

    async def _stop_local(self, run_id: str) -> None:
        state = self._runs.pop(run_id, None)
        if state is not None:
            state.stopping = True
            tasks = list(state.tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._release(run_id)

    async def _release(self, run_id: str | None) -> None:
        async with self._db.write() as session:
            await leases_repo.release_cases(session, self.owner, run_id=run_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    # -- background loops ---------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                async with self._db.write() as session:
                    await leases_repo.extend_leases(session, held, self.owner, lease_s=self.lease_s)
            except Exception:  # a missed beat costs nothing while the lease lasts; retry
                log.warning("Extending %d leases failed.", len(held), exc_info=True)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            watched = [run_id for run_id, s in self._runs.items() if s.tasks and not s.stopping]
            if not watched:
                continue
            try:
                ended = await self._ended_runs(watched)
            except Exception:
                log.warning("Reading run statuses failed.", exc_info=True)
                continue
            for run_id, why in ended.items():
                if why is None:
                    self._spawn(self.cancel_run(run_id))
                else:
                    self._spawn(self._fail_run(run_id, why, reason="error", drain=True))

    async def _ended_runs(self, run_ids: list[str]) -> dict[str, str | None]:
        """The runs that ended elsewhere (None), or must fail now (why: their agent is gone)."""
        ended: dict[str, str | None] = {}
        async with self._db.session() as session:
            found = await runs_repo.run_liveness(session, run_ids)
        active = {status.value for status in ACTIVE}
        for run_id in run_ids:
            status, agent_id, agent_live = found.get(run_id, ("", "", True))
            if status not in active:
                ended[run_id] = None
            elif not agent_live:
                ended[run_id] = _agent_deleted(agent_id)
        return ended

    # -- shutdown -----------------------------------------------------------------------------

    async def close(self, *, grace_s: float = 10.0) -> None:
        """Stop taking work; finish in-flight cases within ``grace_s``, release the rest."""
        self._closing = True
        tasks = [task for state in self._runs.values() for task in state.tasks]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=max(0.0, grace_s))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._spawned:
            await asyncio.gather(*list(self._spawned), return_exceptions=True)
        await self._completions.aclose()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        try:
            await self._release(None)
        except Exception:  # leases then simply run out, and the cases are handed out again
            log.warning("Releasing the cases of %s failed.", self.owner, exc_info=True)
        self._held.clear()
        await self._agents.aclose()
