"""Batched recording of finished cases: many ``complete_case`` calls per write transaction.

SQLite allows one writer at a time and every transaction costs a sync to disk, so a worker that
committed each result on its own would spend its time waiting for the lock. The writer gathers
results for up to ``max_delay_s`` (or until ``max_batch`` are waiting) and records them in one
transaction (:func:`aifactory.store.leases_repo.complete_many`: a row changes only while it is
pending, or running under this owner's claim; the run's counters and the agent's result count
change in the same transaction); each caller learns whether *its* result was recorded once that
transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aifactory.domain.models import TestResult
from aifactory.store import leases_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)

_Item = tuple[str, TestResult, "asyncio.Future[bool]"]


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
            return await leases_repo.complete_many(
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
