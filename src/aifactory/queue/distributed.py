"""The API side of the distributed queue: tokens go to Redis or RabbitMQ, workers run them.

An API replica with ``AIFACTORY_QUEUE_URL`` set runs no case itself. A batch is stored first
(its run and one pending row per case), then :meth:`DistributedQueue.enqueue` sends its chunk
tokens to the broker, where ``aifactory worker`` processes take them. If the broker cannot be
reached then, the batch is still accepted: its rows are in the database, and the workers'
reconciler queues tokens for a run that stalled with nothing queued.

Backpressure: :meth:`DistributedQueue.admit` refuses a new batch with 503 and ``Retry-After``
while the broker holds ``AIFACTORY_QUEUE_MAX_DEPTH`` chunks or more, so a flood of submissions
waits at the door instead of growing the queue without limit.

:attr:`DistributedQueue.info` is what ``/health`` and ``/api/v1/metrics`` show of the queue; a
background loop keeps it current (broker reachable, depth, workers with a live heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AbstractContextManager
from typing import Any

from aifactory.errors import Unavailable
from aifactory.queue.base import CHUNK_SIZE, chunk_count
from aifactory.queue.brokers import broker_kind, broker_ops
from aifactory.queue.tasks import make_broker, register_tasks
from aifactory.queue.watch import RunWatch, timed_watch
from aifactory.settings import Settings
from aifactory.store import queue_repo, runs_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)

_KICK_BATCH = 64


class DistributedQueue:
    """Sends batches to a distributed broker; implements :class:`~aifactory.queue.base.BatchQueue`.

    Args:
        db: the database.
        settings: ``queue_url``, ``queue_name`` and ``queue_max_depth``.
        chunk_size: cases a token claims.
        info_s: how often :attr:`info` is refreshed.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        chunk_size: int = CHUNK_SIZE,
        info_s: float = 1.0,
        **_: Any,
    ) -> None:
        self._db = db
        self.chunk_size = chunk_size
        self.max_depth = settings.queue_max_depth
        self.kind = broker_kind(settings)
        self._broker = make_broker(settings)
        self._task = register_tasks(self._broker)
        self._ops = broker_ops(self._broker, settings)
        self._info_s = info_s
        self._depth: int | None = None
        self._loop: asyncio.Task[None] | None = None
        self.info: dict[str, object] = {
            "backend": self.kind,
            "broker": "unknown",
            "depth": None,
            "max_depth": self.max_depth,
            "workers": 0,
        }

    async def start(self) -> None:
        """Connect to the broker and start keeping :attr:`info` current."""
        await self._broker.startup()
        await self.refresh_info()
        self._loop = asyncio.create_task(self._info_loop(), name="aifactory-queue-info")

    async def enqueue(self, run_id: str, total_cases: int) -> None:
        """Send the tokens covering ``total_cases`` cases of the stored run ``run_id``."""
        try:
            await self.kick(run_id, chunk_count(total_cases, self.chunk_size))
        except Exception as exc:  # the rows are stored; the reconciler queues the run later
            log.warning(
                "Queueing run %s failed (%s: %s); the workers' reconciler will queue it.",
                run_id,
                type(exc).__name__,
                exc,
            )

    async def kick(self, run_id: str, tokens: int) -> None:
        """Send ``tokens`` tokens of ``run_id`` (a few dozen at a time)."""
        for start in range(0, tokens, _KICK_BATCH):
            batch = min(_KICK_BATCH, tokens - start)
            await asyncio.gather(
                *(self._task.kiq(run_id=run_id, max_cases=self.chunk_size) for _ in range(batch))
            )

    async def admit(self) -> None:
        """Refuse a new batch while the queue is too deep.

        Raises:
            Unavailable: the broker holds ``max_depth`` chunks or more (503, ``Retry-After``).
        """
        try:
            depth = await self._ops.depth()
        except Exception as exc:  # an unreachable broker does not stop submissions
            log.warning("Reading the queue depth failed: %s", exc)
            return
        self._depth = depth
        if depth >= self.max_depth:
            raise Unavailable(
                f"The batch queue is full ({depth} chunks waiting, the limit is "
                f"{self.max_depth}); retry after the time in Retry-After, or add workers.",
                retry_after=5,
                code="queue_full",
            )

    async def cancel(self, run_id: str) -> None:
        """Nothing to do here: every worker notices the cancel in the database within 0.5 s."""

    def watch(self, run_id: str) -> AbstractContextManager[RunWatch]:
        """A watch that only times out: the workers that end runs are other processes."""
        return timed_watch(run_id)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop refreshing :attr:`info` and disconnect (workers keep going)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self._broker.shutdown()

    def depth(self) -> int | None:
        """Chunks in the broker, as last read (None before the first read)."""
        return self._depth

    async def run_until_idle(self, *, timeout_s: float = 60.0) -> None:
        """Wait until the broker is empty and no run is in flight.

        Raises:
            TimeoutError: still busy after ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            async with self._db.session() as session:
                in_flight = await runs_repo.runs_in_flight(session, limit=1)
            if not in_flight and await self._ops.depth() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"The queue is still busy after {timeout_s:g} s.")
            await asyncio.sleep(0.1)

    async def refresh_info(self) -> dict[str, object]:
        """Read the broker's depth and the live workers into :attr:`info`."""
        try:
            self._depth = await self._ops.depth()
            self.info["broker"] = "ok"
            self.info["depth"] = self._depth
        except Exception as exc:
            self.info["broker"] = "unreachable"
            self.info["broker_error"] = type(exc).__name__
        else:
            self.info.pop("broker_error", None)
        try:
            async with self._db.session() as session:
                workers = await queue_repo.live_workers(session)
            self.info["workers"] = len(workers)
        except Exception:  # /health reports the database on its own
            log.debug("Reading worker heartbeats failed.", exc_info=True)
        return self.info

    async def _info_loop(self) -> None:
        while True:
            await asyncio.sleep(self._info_s)
            await self.refresh_info()
