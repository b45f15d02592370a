"""One ``aifactory worker`` process: takes chunk tokens from the broker and runs their cases.

:class:`DistributedWorker` puts together, in one event loop:

* a taskiq ``Receiver`` over the broker (Redis streams or RabbitMQ) executing
  :func:`~aifactory.queue.tasks.run_chunk` with this process's
  :class:`~aifactory.queue.worker.CaseWorker` (leases, heartbeats on the leases, batched
  idempotent completions, cancel polling); a token is acknowledged once its cases are stored;
* a heartbeat in the database every ``heartbeat_s`` (what "alive" means to the reconciler and
  to ``/api/v1/metrics``);
* the :class:`~aifactory.queue.reconciler.Reconciler`, acting while this process holds the lock.

Stopping (SIGTERM) is graceful: no new token is taken, in-flight cases get ``grace_s`` seconds
to finish, the rest are released (back to ``pending``), and a token is sent again for every
chunk that was cut short, so another worker picks its cases up at once.

:func:`aifactory.bootstrap.worker` builds one from settings (database, engine, Redis-backed
agent limits and adaptive provider limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

from taskiq.receiver import Receiver

from aifactory.engine.runner_factory import RunnerFactory
from aifactory.queue.agent_pool import AgentLimits
from aifactory.queue.base import CHUNK_SIZE, DEFAULT_CONCURRENCY
from aifactory.queue.brokers import broker_ops
from aifactory.queue.reconciler import Reconciler
from aifactory.queue.tasks import bind_worker, make_broker, register_tasks
from aifactory.queue.worker import CaseWorker
from aifactory.settings import Settings
from aifactory.store import queue_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)


def worker_owner() -> str:
    """A worker name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DistributedWorker:
    """Executes tokens of the distributed queue in this process.

    Args:
        db: the database.
        engine: builds agents and case runners.
        settings: ``queue_url``, ``queue_name``, ``lease_s``.
        concurrency: cases run at once by this process.
        owner: this worker's name (leases, heartbeat, broker consumer).
        chunk_size: cases a token claims (tokens this worker sends again).
        limits: where agents' limits live (default: this process only).
        heartbeat_s: seconds between heartbeats; a worker silent for three is dead.
        reconcile_s: seconds between reconciler passes.
        stall_s: see :class:`~aifactory.queue.reconciler.Reconciler`.
        poll_s: how often run statuses are read (cancels reach cases this fast).
    """

    def __init__(
        self,
        db: Database,
        engine: RunnerFactory,
        settings: Settings,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        owner: str | None = None,
        chunk_size: int = CHUNK_SIZE,
        limits: AgentLimits | None = None,
        heartbeat_s: float = 1.0,
        reconcile_s: float = 1.0,
        stall_s: float = 5.0,
        poll_s: float = 0.5,
    ) -> None:
        self.owner = owner or worker_owner()
        self.chunk_size = chunk_size
        self.heartbeat_s = heartbeat_s
        self._db = db
        self.broker = make_broker(settings, consumer=self.owner, worker=True)
        self._task = register_tasks(self.broker)
        self.worker = CaseWorker(
            db,
            engine,
            settings,
            owner=self.owner,
            concurrency=concurrency,
            poll_s=poll_s,
            limits=limits,
        )
        bind_worker(self.broker, self.worker)
        # Tokens executing at once: enough to claim about twice what can run, as in-process.
        self.max_chunks = max(2, -(-2 * concurrency // chunk_size))
        self.reconciler = Reconciler(
            db,
            broker_ops(self.broker, settings),
            self.kick,
            owner=self.owner,
            chunk_size=chunk_size,
            lease_s=self.worker.lease_s,
            interval_s=reconcile_s,
            stall_s=stall_s,
        )

    async def kick(self, run_id: str, tokens: int) -> None:
        """Send ``tokens`` tokens of ``run_id`` to the broker."""
        for _ in range(tokens):
            await self._task.kiq(run_id=run_id, max_cases=self.chunk_size)

    async def beat(self) -> None:
        """Tell the database this worker is alive for three more heartbeats."""
        async with self._db.write() as session:
            await queue_repo.beat(session, self.owner, ttl_s=max(3.0, 3 * self.heartbeat_s))

    async def run(self, stop: asyncio.Event, *, grace_s: float = 10.0) -> None:
        """Work until ``stop`` is set, then stop gracefully within about ``grace_s`` seconds."""
        # Alive before the first token is taken, so the reconciler never re-queues ours.
        await self.beat()
        await self.broker.startup()
        await self.worker.start()
        receiver = Receiver(
            self.broker,
            max_async_tasks=self.max_chunks,
            max_prefetch=0,
            run_startup=False,
            wait_tasks_timeout=grace_s + 5.0,
        )
        finish = asyncio.Event()
        listening = asyncio.create_task(receiver.listen(finish), name="aifactory-receiver")
        loops = [
            asyncio.create_task(self._heartbeat_loop(), name="aifactory-worker-heartbeat"),
            asyncio.create_task(self.reconciler.run(), name="aifactory-reconciler"),
        ]
        log.info("Worker %s started (%d cases at once).", self.owner, self.worker.concurrency)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, listening}, return_when=asyncio.FIRST_COMPLETED)
        if listening.done() and not stopping.done():
            log.error("The worker's receiver stopped: %r", listening.exception())
        stopping.cancel()
        await self._shutdown(receiver, finish, listening, loops, grace_s)

    async def _shutdown(
        self,
        receiver: Receiver,
        finish: asyncio.Event,
        listening: asyncio.Task[Any],
        loops: list[asyncio.Task[None]],
        grace_s: float,
    ) -> None:
        log.info("Worker %s stopping: finishing in-flight cases for %g s.", self.owner, grace_s)
        cut_short = self.worker.executing_chunks()
        finish.set()
        await self.worker.close(grace_s=grace_s)
        try:
            await asyncio.wait_for(listening, timeout=10.0)
        except (TimeoutError, Exception):  # the receiver is being torn down either way
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listening
        try:
            for run_id, chunks in cut_short.items():
                await self.kick(run_id, chunks)
        except Exception:  # the reconciler re-queues a stalled run anyway
            log.warning("Sending back the tokens of unfinished chunks failed.", exc_info=True)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.reconciler.resign()
        with contextlib.suppress(Exception):
            async with self._db.write() as session:
                await queue_repo.stop_beating(session, self.owner)
        await self.broker.shutdown()
        log.info("Worker %s stopped.", self.owner)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.beat()
            except Exception:  # a missed beat is covered by the next two
                log.warning("The worker heartbeat failed.", exc_info=True)
