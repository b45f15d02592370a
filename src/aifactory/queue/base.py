"""The seam between the service and whatever executes batch work.

The API creates a run and its pending result rows, then calls :meth:`BatchQueue.enqueue`. The
queue turns the run into *chunk tokens*: a token carries no cases, only "claim up to N cases of
run R", so tokens are tiny and a 100,000-case batch costs a few thousand of them. Whoever
executes a token claims cases from the database under a lease and completes them idempotently,
so delivering a token twice, or losing one, never makes a second result or loses a case.

:func:`make_queue` picks the implementation: in-process (taskiq's in-memory broker, the cases
run in the server's event loop) when ``AIFACTORY_QUEUE_URL`` is unset, or stored for the batch
runner process beside the server (:mod:`aifactory.queue.beside`) when
``AIFACTORY_BATCH_RUNNER=process``; the distributed queue
(:mod:`aifactory.queue.distributed`: Redis streams or RabbitMQ, cases run by ``aifactory
worker`` processes) otherwise.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from aifactory.queue.watch import RunWatch
from aifactory.settings import Settings

if TYPE_CHECKING:
    from aifactory.engine.runner_factory import RunnerFactory
    from aifactory.store.database import Database

CHUNK_SIZE = 50
"""Cases one token claims: big enough to amortise a claim, small enough to spread work."""

DEFAULT_CONCURRENCY = 64
"""Cases one worker process runs at once, over every run and agent."""


class BatchQueue(Protocol):
    """Where batches go to be executed."""

    info: dict[str, object]
    """What ``/health`` and ``/api/v1/metrics`` show of the queue (kept current by the queue)."""

    async def start(self) -> None:
        """Start executing; the embedded queue also resumes runs a previous process left."""
        ...

    async def admit(self) -> None:
        """Let a new batch in, or raise ``Unavailable`` (503) while the queue is too deep."""
        ...

    async def enqueue(self, run_id: str, total_cases: int) -> None:
        """Queue the tokens that cover ``total_cases`` cases of a run already stored."""
        ...

    async def cancel(self, run_id: str) -> None:
        """Stop this process's in-flight cases of a run quickly (after ``request_cancel``)."""
        ...

    def watch(self, run_id: str) -> AbstractContextManager[RunWatch]:
        """A watch on the run's end (:mod:`aifactory.queue.watch`), opened before reading it."""
        ...

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop: finish in-flight cases within ``grace_s`` seconds, release the rest."""
        ...

    def depth(self) -> int | None:
        """Tokens queued or executing, when the queue can tell (None when it cannot)."""
        ...

    async def run_until_idle(self, *, timeout_s: float = 60.0) -> None:
        """Wait until no token is queued or executing (tests and scripts)."""
        ...


def chunk_count(total_cases: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Tokens needed for ``total_cases`` cases (at least one, so an empty run gets finished)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    return max(1, -(-total_cases // chunk_size))


def make_queue(
    settings: Settings, db: Database, engine: RunnerFactory, **options: Any
) -> BatchQueue:
    """The queue ``settings`` ask for.

    Args:
        settings: ``queue_url`` (``AIFACTORY_QUEUE_URL``/``REDIS_URL``) chooses the queue, and
            without one ``batch_runner`` whether cases run in this process or in the batch
            runner process beside it; the lease length comes from ``lease_s``.
        db: the service's database.
        engine: the engine that builds agents and case runners.
        **options: passed to the implementation (e.g. ``concurrency`` for the in-process queue).

    Raises:
        ConfigError: the queue URL names no supported broker (``redis://``, ``amqp://``).
    """
    if settings.queue_url is None and settings.batch_runner == "process":
        from aifactory.queue.beside import BesideQueue

        return BesideQueue(db)
    if settings.queue_url is None:
        from aifactory.queue.inprocess import InProcessQueue

        return InProcessQueue(db, engine, settings, **options)
    from aifactory.queue.distributed import DistributedQueue

    return DistributedQueue(db, settings, **options)
