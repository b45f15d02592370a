"""The taskiq task that executes a chunk token, and the brokers it runs on.

There is no broker at import time: a broker is made by :func:`make_broker` (or
:func:`in_memory_broker`), the task is put on it by :func:`register_tasks`, and the process that
executes tokens puts its :class:`~aifactory.queue.worker.CaseWorker` in the broker's state with
:func:`bind_worker`. The task takes the worker through taskiq's dependency injection
(``TaskiqState``), so the same task code runs in the server's event loop over the in-memory
broker, and in ``aifactory worker`` processes over a distributed broker, where a
``WORKER_STARTUP`` handler binds the worker instead.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker, TaskiqDepends, TaskiqState

from aifactory.errors import ConfigError
from aifactory.settings import Settings

if TYPE_CHECKING:
    from aifactory.queue.worker import CaseWorker

RUN_CHUNK_TASK = "aifactory.run_chunk"
"""The task's name on the wire; workers of every version must agree on it."""

_WORKER_KEY = "case_worker"

RunChunkTask = AsyncTaskiqDecoratedTask[..., Coroutine[Any, Any, int]]


async def run_chunk(run_id: str, max_cases: int, state: TaskiqState = TaskiqDepends()) -> int:
    """Claim up to ``max_cases`` cases of ``run_id`` and run them; the number recorded.

    Safe to deliver twice: cases are claimed from the database, so a second delivery finds them
    taken or finished and records nothing.
    """
    return await worker_from_state(state).process_chunk(run_id, max_cases)


def register_tasks(broker: AsyncBroker) -> RunChunkTask:
    """Put :func:`run_chunk` on ``broker``; returns the task to kick."""
    return broker.register_task(run_chunk, task_name=RUN_CHUNK_TASK)


def bind_worker(broker: AsyncBroker, worker: CaseWorker) -> None:
    """Make ``worker`` the one :func:`run_chunk` uses in this process."""
    setattr(broker.state, _WORKER_KEY, worker)


def worker_from_state(state: TaskiqState) -> CaseWorker:
    """The worker :func:`bind_worker` put in the broker's state.

    Raises:
        ConfigError: no worker was bound (the process was not started as a worker).
    """
    worker: CaseWorker | None = state.get(_WORKER_KEY)
    if worker is None:
        raise ConfigError(
            "This process received a batch chunk but has no case worker; start it with "
            "'aifactory worker' (or start the in-process queue) before sending it work."
        )
    return worker


def in_memory_broker() -> InMemoryBroker:
    """taskiq's in-memory broker: a kicked task runs as a task of the current event loop."""
    # Chunk results are counts nobody reads back; keep few of them.
    return InMemoryBroker(max_stored_results=16)


def make_broker(
    settings: Settings, *, consumer: str | None = None, worker: bool = False
) -> AsyncBroker:
    """The broker ``settings.queue_url`` names (the in-memory one when it is unset).

    ``redis://`` gives taskiq-redis's stream broker, ``amqp://`` RabbitMQ through
    taskiq-aio-pika (see :mod:`aifactory.queue.brokers`); ``consumer`` and ``worker`` matter
    to those only.

    Raises:
        ConfigError: the URL names no supported broker.
    """
    if settings.queue_url is None:
        return in_memory_broker()
    from aifactory.queue.brokers import distributed_broker

    return distributed_broker(settings, consumer=consumer, worker=worker)
