"""The embedded queue: batches run in the server's event loop, through taskiq's in-memory broker.

Tokens wait here, as a count per run, and are kicked to the broker a few at a time (at most
``max_chunks`` executing, ``max_chunks_per_run`` of one run, runs served in turn), so a
100,000-case batch costs a counter and a few hundred claimed cases in memory, and one long run
does not hold back a short one queued after it. Each kicked token runs
:func:`aifactory.queue.tasks.run_chunk` with this process's :class:`CaseWorker`.

A reconciler runs every ``reconcile_s`` seconds: cases whose lease ran out (their worker died)
get a token for their run, and a run still queued or running with no token here gets tokens for
what remains. On :meth:`InProcessQueue.start` the queue resumes what the previous process left:
every ``running`` row is released (in embedded mode the only worker that could hold it died with
that process) and every run in flight gets tokens again. Because claims and completions are
idempotent, a token too many costs one empty claim, never a second result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from typing import Any

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from aifactory.engine.case_runner import CaseRunnerOptions
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.queue.base import CHUNK_SIZE, DEFAULT_CONCURRENCY, chunk_count
from aifactory.queue.tasks import bind_worker, in_memory_broker, register_tasks
from aifactory.queue.watch import RunEnds, RunWatch
from aifactory.queue.worker import CaseWorker
from aifactory.settings import Settings
from aifactory.store import leases_repo, runs_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)


def default_owner() -> str:
    """A lease owner name unique to this process: host, pid and a random suffix."""
    return f"inproc:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _TokenDone(TaskiqMiddleware):
    """Tells the queue when a kicked token finished executing, however it ended."""

    def __init__(self, queue: InProcessQueue) -> None:
        super().__init__()
        self._queue = queue

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        if result.is_err:
            log.error("A chunk of run %s failed: %s", message.kwargs.get("run_id"), result.error)
        self._queue._token_done(str(message.kwargs.get("run_id")))


class InProcessQueue:
    """Runs batches in this process; implements :class:`~aifactory.queue.base.BatchQueue`.

    Args:
        db: the database.
        engine: builds agents and case runners.
        settings: gives ``lease_s``.
        concurrency: cases run at once in this process, over every run.
        chunk_size: cases a token claims.
        max_chunks: tokens executing at once (default: room for two runs at full speed).
        max_chunks_per_run: tokens of one run executing at once (default: enough to claim
            about twice ``concurrency`` cases).
        reconcile_s: seconds between reconciler passes.
        lease_s: how long a claim lasts without a heartbeat (default ``settings.lease_s``).
        poll_s: how often the worker reads the status of runs in progress.
        owner: the lease owner name (default: unique to this process).
        options: how each case runs.
    """

    def __init__(
        self,
        db: Database,
        engine: RunnerFactory,
        settings: Settings,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        chunk_size: int = CHUNK_SIZE,
        max_chunks: int | None = None,
        max_chunks_per_run: int | None = None,
        reconcile_s: float = 5.0,
        lease_s: float | None = None,
        poll_s: float = 0.5,
        owner: str | None = None,
        options: CaseRunnerOptions | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1.")
        self._db = db
        self._single_process = settings.single_process
        self.chunk_size = chunk_size
        # Claim about twice what can run at once: the next cases are at hand when a chunk
        # finishes, and few cases sit claimed (leased away from other workers) doing nothing.
        per_run = max_chunks_per_run or max(2, -(-2 * concurrency // chunk_size))
        self.max_chunks_per_run = max(1, per_run)
        self.max_chunks = max(1, max_chunks or max(4, 2 * self.max_chunks_per_run))
        self.reconcile_s = reconcile_s
        self._ends = RunEnds()
        self.worker = CaseWorker(
            db,
            engine,
            settings,
            owner=owner or default_owner(),
            concurrency=concurrency,
            options=options,
            lease_s=lease_s,
            poll_s=poll_s,
            on_run_ended=self._ends.ended,
        )
        self._broker = in_memory_broker()
        self._broker.add_middlewares(_TokenDone(self))
        self._task = register_tasks(self._broker)
        bind_worker(self._broker, self.worker)
        self._queued: OrderedDict[str, int] = OrderedDict()
        self._executing: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._started = False
        self.info: dict[str, object] = {"backend": "inprocess"}

    # -- BatchQueue ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start executing, after resuming the runs a previous process left in flight."""
        if self._started:
            return
        self._started = True
        await self._broker.startup()
        await self.worker.start()
        await self.resume()
        self._loops = [
            self._loop(self._dispatch_loop(), "aifactory-dispatch"),
            self._loop(self._reconcile_loop(), "aifactory-reconcile"),
        ]

    async def admit(self) -> None:
        """Always lets a batch in: its tokens are a counter here, and cost no memory per case."""

    async def enqueue(self, run_id: str, total_cases: int) -> None:
        """Queue tokens covering ``total_cases`` cases of the stored run ``run_id``."""
        self._add_tokens(run_id, chunk_count(total_cases, self.chunk_size))

    async def cancel(self, run_id: str) -> None:
        """Drop the run's queued tokens and stop its in-flight cases now."""
        self._queued.pop(run_id, None)
        self._changed.set()
        await self.worker.cancel_run(run_id)

    def watch(self, run_id: str) -> AbstractContextManager[RunWatch]:
        """A watch woken as soon as this process's worker ends the run."""
        return self._ends.watch(run_id)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop dispatching; let in-flight cases finish within ``grace_s``, release the rest."""
        if not self._started:
            return
        self._started = False
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        await self.worker.close(grace_s=grace_s)
        await self._broker.wait_all()
        await self._broker.shutdown()
        self._queued.clear()

    def depth(self) -> int:
        """Tokens queued here plus tokens executing."""
        return sum(self._queued.values()) + sum(self._executing.values())

    async def run_until_idle(self, *, timeout_s: float = 60.0) -> None:
        """Wait until no token is queued or executing and the worker has nothing left to do.

        Raises:
            TimeoutError: still busy after ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while self.depth() > 0 or self.worker.busy:
            if time.monotonic() > deadline:
                raise TimeoutError(f"The queue is still busy after {timeout_s:g} s.")
            await asyncio.sleep(0.02)

    # -- tokens -------------------------------------------------------------------------------

    def outstanding(self, run_id: str) -> int:
        """Tokens of ``run_id`` queued or executing here."""
        return self._queued.get(run_id, 0) + self._executing[run_id]

    def _add_tokens(self, run_id: str, count: int) -> None:
        if count <= 0:
            return
        self._queued[run_id] = self._queued.get(run_id, 0) + count
        self._changed.set()

    def _next_run(self) -> str | None:
        if sum(self._executing.values()) >= self.max_chunks:
            return None
        for run_id in list(self._queued):
            if self._executing[run_id] < self.max_chunks_per_run:
                # Runs take turns: the one served goes to the back.
                self._queued.move_to_end(run_id)
                left = self._queued[run_id] - 1
                if left:
                    self._queued[run_id] = left
                else:
                    del self._queued[run_id]
                return run_id
        return None

    def _token_done(self, run_id: str) -> None:
        self._executing[run_id] -= 1
        if self._executing[run_id] <= 0:
            del self._executing[run_id]
        self._changed.set()

    async def _dispatch_loop(self) -> None:
        while True:
            run_id = self._next_run()
            if run_id is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._executing[run_id] += 1
            try:
                await self._task.kiq(run_id=run_id, max_cases=self.chunk_size)
            except Exception:  # the in-memory broker only fails on a bug; keep the token
                log.exception("Kicking a chunk of run %s failed.", run_id)
                self._token_done(run_id)
                self._add_tokens(run_id, 1)
                await asyncio.sleep(1.0)

    # -- reconciling and resuming -------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_s)
            try:
                await self.reconcile_once()
            except Exception:  # the database may be briefly away; the next pass retries
                log.warning("Reconciling batch work failed.", exc_info=True)

    async def reconcile_once(self) -> int:
        """One reconciler pass; returns the tokens it queued.

        Runs with cases whose lease ran out get tokens for those cases; runs in flight with no
        token here get tokens for what remains of them.
        """
        async with self._db.session() as session:
            expired = await leases_repo.expired_leases(session)
            in_flight = await runs_repo.runs_in_flight(session)
        active = {run.id for run in in_flight}
        added = 0
        for run_id, count in Counter(lease.run_id for lease in expired).items():
            if run_id in active:
                tokens = chunk_count(count, self.chunk_size)
                self._add_tokens(run_id, tokens)
                added += tokens
        for run in in_flight:
            if self.outstanding(run.id) == 0:
                tokens = chunk_count(run.total - run.completed - run.cancelled, self.chunk_size)
                self._add_tokens(run.id, tokens)
                added += tokens
        return added

    async def resume(self) -> int:
        """Release every claimed case and queue tokens for every run in flight.

        Only right in embedded mode, where no other process works on this database: the cases
        it finds claimed were held by a process that is gone. Returns the cases released.
        """
        # With several server processes on one database (serve --workers N), a sibling's claims
        # are alive: leave them to run out (the reconciler re-queues them if it died).
        released = await leases_repo.release_all_claims(self._db) if self._single_process else 0
        if released:
            log.info("Released %d cases a previous process left running.", released)
        async with self._db.session() as session:
            in_flight = await runs_repo.runs_in_flight(session)
        for run in in_flight:
            remaining = run.total - run.completed - run.cancelled
            self._add_tokens(run.id, chunk_count(remaining, self.chunk_size))
        return released

    def _loop(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=name)
