"""The server's side of the batch runner process: batches are stored here and run there.

With ``AIFACTORY_BATCH_RUNNER=process`` (what gunicorn and ``aifactory serve --workers N`` choose
when there is no ``AIFACTORY_QUEUE_URL``), the server processes only answer requests. A batch is
its run and pending result rows, written by the submitting request; the batch runner process
(:mod:`aifactory.queue.runner_process`), at a lower CPU priority, finds runs in flight in the
database within a fraction of a second and runs their cases. So a burst of batches never takes
the CPU that requests need: ``/health`` and every read stay quick while thousands of cases run.

Cancelling needs nothing here (the runner notices a cancelled run in the database within
``poll_s``), and a waiter re-reads the run after each timeout (:func:`timed_watch`).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager

from aifactory.queue.watch import RunWatch, timed_watch
from aifactory.store import runs_repo
from aifactory.store.database import Database


class BesideQueue:
    """Implements :class:`~aifactory.queue.base.BatchQueue` for a server whose batches run in
    the batch runner process beside it.

    Args:
        db: the database the runner process reads runs from.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self.info: dict[str, object] = {"backend": "process"}

    async def start(self) -> None:
        """Nothing to start: the runner process resumes what a previous one left."""

    async def admit(self) -> None:
        """Always lets a batch in: the stored rows are the queue, and cost no memory here."""

    async def enqueue(self, run_id: str, total_cases: int) -> None:
        """Nothing to send: the runner process finds the stored run on its next pass."""

    async def cancel(self, run_id: str) -> None:
        """Nothing to do here: the runner notices the cancelled run in the database."""

    def watch(self, run_id: str) -> AbstractContextManager[RunWatch]:
        """A watch that only times out: the process that ends runs is another one."""
        return timed_watch(run_id)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Nothing to stop: the runner process has its own life."""

    def depth(self) -> int | None:
        """Unknown here: the runner process holds the tokens."""
        return None

    async def run_until_idle(self, *, timeout_s: float = 60.0) -> None:
        """Wait until no run is queued or running.

        Raises:
            TimeoutError: still busy after ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            async with self._db.session() as session:
                if not await runs_repo.runs_in_flight(session, limit=1):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"The queue is still busy after {timeout_s:g} s.")
            await asyncio.sleep(0.05)
