"""Batched recording of finished cases: many ``complete_case`` calls per write transaction.

SQLite allows one writer at a time and every transaction costs a sync to disk, so a worker that
committed each result on its own would spend its time waiting for the lock. The writer gathers
results for up to ``max_delay_s`` (or until ``max_batch`` are waiting) and records them in one
transaction; each caller learns whether *its* result was recorded once that transaction commits.

:func:`complete_many` is the batch twin of ``results_repo.complete_case`` with the same rules
(a row changes only while it is pending, or running under this owner's claim; the run's counters
and the agent's result count change in the same transaction), in four statements per batch
instead of three per result, which is what lets SQLite keep up with a fast agent. It belongs in
the store next to ``complete_case``, and should move there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aifactory.domain.models import TestResult
from aifactory.store.database import Database
from aifactory.store.results_repo import _outcome_values
from aifactory.store.tables import Agent, Result, Run, utcnow

log = logging.getLogger(__name__)

_Item = tuple[str, TestResult, "asyncio.Future[bool]"]
_results = cast(Table, Result.__table__)
_r = _results.c
_COUNTERS = {"passed": "passed", "failed": "failed", "error": "errored"}


async def complete_many(
    session: AsyncSession,
    owner: str,
    items: list[tuple[str, TestResult]],
    *,
    now: datetime | None = None,
) -> list[bool]:
    """Record the outcomes of several claimed cases at once, each at most once.

    Args:
        session: a write session; everything happens in its transaction.
        owner: the lease owner that claimed the cases.
        items: ``(result_id, result)`` pairs.
        now: the finish time to stamp.

    Returns:
        For each item, whether this call recorded it (False when the case was already finished,
        cancelled, claimed by another worker, or named twice in ``items``).
    """
    now = now or utcnow()
    owned = or_(_r.status == "pending", and_(_r.status == "running", _r.lease_owner == owner))
    ids = list(dict.fromkeys(result_id for result_id, _ in items))
    rows = await session.execute(
        select(_r.id, _r.run_id, _r.agent_id)
        .where(_r.id.in_(ids), owned)
        .order_by(_r.id)  # the same lock order in every transaction: no deadlocks
        .with_for_update()
    )
    targets = {row.id: row for row in rows}
    recorded: list[bool] = []
    params: list[dict[str, Any]] = []
    runs: defaultdict[str, Counter[str]] = defaultdict(Counter)
    agents: Counter[str] = Counter()
    for result_id, result in items:
        row = targets.pop(result_id, None)
        recorded.append(row is not None)
        if row is None:
            continue
        values = _outcome_values(result, now)
        params.append({"b_id": result_id, **{f"b_{k}": v for k, v in values.items()}})
        runs[row.run_id][result.status] += 1
        agents[row.agent_id] += 1
    if not params:
        return recorded
    columns = [key[2:] for key in params[0] if key != "b_id"]
    await session.execute(
        update(_results)
        .where(_r.id == bindparam("b_id"))
        .values({column: bindparam(f"b_{column}") for column in columns}),
        params,
    )
    for run_id, by_status in runs.items():
        counters: dict[str, Any] = {"completed": Run.completed + sum(by_status.values())}
        for status, n in by_status.items():
            column = getattr(Run, _COUNTERS[status])
            counters[column.key] = column + n
        await session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(**counters)
            .execution_options(synchronize_session=False)
        )
    for agent_id, n in agents.items():
        await session.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(results_count=Agent.results_count + n)
            .execution_options(synchronize_session=False)
        )
    return recorded


class CompletionWriter:
    """Records finished cases in batches for one lease owner.

    Args:
        db: the database.
        owner: the lease owner the cases were claimed by.
        max_batch: results that trigger a write at once.
        max_delay_s: longest a result waits for others to share its transaction.
        attempts: tries of a failing transaction before its callers get the error.
        retry_for_s: keep trying a failing transaction at least this long (backing off up to
            ``max_backoff_s``), so a database away for a while does not waste the finished
            cases: their rows stay claimed, and are recorded when it answers again.
        max_backoff_s: the longest pause between two tries.
    """

    def __init__(
        self,
        db: Database,
        owner: str,
        *,
        max_batch: int = 50,
        max_delay_s: float = 0.1,
        attempts: int = 3,
        retry_for_s: float = 30.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._db = db
        self._owner = owner
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._attempts = attempts
        self._retry_for_s = retry_for_s
        self._max_backoff_s = max_backoff_s
        self._buffer: list[_Item] = []
        self._waiting = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Start the background writer."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="aifactory-completions")

    async def submit(self, result_id: str, result: TestResult) -> bool:
        """Record ``result`` for the claimed row ``result_id``.

        Returns:
            True when it was recorded; False when the row was no longer this owner's (the run
            was cancelled, or the lease ran out and another worker took the case).

        Raises:
            Exception: the database kept failing (the row stays claimed until its lease runs out,
                then the reconciler hands the case out again).
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._buffer.append((result_id, result, future))
        self._waiting.set()
        if len(self._buffer) >= self._max_batch:
            self._full.set()
        # Shielded: a case cancelled while its result waits still gets it written.
        return await asyncio.shield(future)

    async def _loop(self) -> None:
        while not (self._closing and not self._buffer):
            await self._waiting.wait()
            if not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._max_delay_s)
            await self.flush()

    async def flush(self) -> None:
        """Write everything waiting now."""
        batch, self._buffer = self._buffer, []
        self._waiting.clear()
        self._full.clear()
        if not batch:
            return
        deadline = time.monotonic() + self._retry_for_s
        attempt = 0
        while True:
            attempt += 1
            try:
                recorded = await self._write(batch)
            except Exception as exc:  # the database failed; retry, then hand the error back
                # Closing: no long wait; the rows' leases run out and the cases go out again.
                out_of_time = self._closing or time.monotonic() >= deadline
                if attempt >= self._attempts and out_of_time:
                    log.exception("Recording %d results failed; giving up on them.", len(batch))
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    return
                log.warning(
                    "Recording %d results failed (%s); retrying.", len(batch), type(exc).__name__
                )
                await asyncio.sleep(min(self._max_backoff_s, 0.2 * 2 ** (attempt - 1)))
            else:
                for (_, _, future), done in zip(batch, recorded, strict=True):
                    if not future.done():
                        future.set_result(done)
                return

    async def _write(self, batch: list[_Item]) -> list[bool]:
        async with self._db.write() as session:
            return await complete_many(
                session, self._owner, [(result_id, result) for result_id, result, _ in batch]
            )

    async def aclose(self) -> None:
        """Write what is waiting and stop."""
        # Never cancelled mid-write: a batch taken off the buffer must reach its callers.
        self._closing = True
        self._waiting.set()
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
