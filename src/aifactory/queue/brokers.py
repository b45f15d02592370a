"""The distributed brokers: Redis streams (taskiq-redis) or RabbitMQ (taskiq-aio-pika).

:func:`distributed_broker` picks one by the scheme of ``AIFACTORY_QUEUE_URL``; the same
:func:`~aifactory.queue.tasks.run_chunk` task runs on either. :func:`broker_ops` gives what the
queue and the reconciler need to know of a broker (:class:`BrokerOps`): its depth, the tokens
no worker has taken, and a way to re-queue the tokens a dead worker held (RabbitMQ does that on
its own when the worker's connection drops; Redis streams need the reconciler).
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import urlsplit

from taskiq import AsyncBroker

from aifactory.errors import ConfigError
from aifactory.settings import Settings

log = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis", "rediss", "unix")
AMQP_SCHEMES = ("amqp", "amqps")


class BrokerOps(Protocol):
    """What the distributed queue asks of its broker beyond sending and receiving tokens."""

    async def depth(self) -> int:
        """Tokens queued or being executed."""
        ...

    async def undelivered(self) -> int:
        """Tokens no worker has taken yet."""
        ...

    async def recover(self, alive: set[str]) -> int:
        """Re-queue tokens held by consumers not in ``alive``; how many."""
        ...


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case (never the rest: it may hold a password)."""
    return urlsplit(url).scheme.lower()


def broker_kind(settings: Settings) -> str:
    """``"redis"`` or ``"amqp"`` for the queue URL in ``settings``.

    Raises:
        ConfigError: no queue URL, or one of another kind.
    """
    if settings.queue_url is None:
        raise ConfigError("No AIFACTORY_QUEUE_URL is set, so there is no distributed broker.")
    scheme = scheme_of(settings.queue_url)
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "amqp"
    raise ConfigError(
        f"AIFACTORY_QUEUE_URL has the scheme {scheme or '(none)'!r}; use redis://host:6379/0 "
        "for Redis streams or amqp://user:password@host:5672/vhost for RabbitMQ."
    )


def distributed_broker(
    settings: Settings, *, consumer: str | None = None, worker: bool = False
) -> AsyncBroker:
    """The broker ``settings.queue_url`` names.

    Args:
        settings: ``queue_url`` and ``queue_name``.
        consumer: this process's consumer name (workers use their lease owner name).
        worker: whether this process executes tokens (RabbitMQ opens a reading channel then).

    Raises:
        ConfigError: the URL names no supported broker.
    """
    kind = broker_kind(settings)
    url = settings.queue_url
    assert url is not None  # broker_kind checked it
    if kind == "redis":
        from aifactory.queue.redis_stream import ChunkStreamBroker

        broker: AsyncBroker = ChunkStreamBroker(
            url, stream=settings.queue_name, consumer_name=consumer
        )
    else:
        try:
            from taskiq_aio_pika import AioPikaBroker, Exchange, Queue
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise ConfigError(
                "AIFACTORY_QUEUE_URL names RabbitMQ, but taskiq-aio-pika is not installed; "
                "run .venv/bin/pip install -c requirements/lock.txt -e '.[distributed]' in the "
                "project's clone."
            ) from exc
        name = settings.queue_name
        broker = AioPikaBroker(
            url,
            # One token at a time per read, as with Redis: no token waits in a busy worker.
            qos=1,
            exchange=Exchange(name=name),
            task_queues=[Queue(name=name, routing_key=name)],
            dead_letter_queue=Queue(name=f"{name}.dead_letter"),
        )
    broker.is_worker_process = worker
    return broker


def broker_ops(broker: AsyncBroker, settings: Settings) -> BrokerOps:
    """The :class:`BrokerOps` of a broker made by :func:`distributed_broker`."""
    from aifactory.queue.redis_stream import ChunkStreamBroker, RedisStreamOps

    if isinstance(broker, ChunkStreamBroker):
        return RedisStreamOps(broker)
    return AmqpOps(broker, settings.queue_name)


class AmqpOps:
    """:class:`BrokerOps` of RabbitMQ: depth from a passive queue declaration."""

    def __init__(self, broker: AsyncBroker, queue: str) -> None:
        self._broker = broker
        self._queue = queue

    async def depth(self) -> int:
        """Messages ready in the queue (RabbitMQ does not count unacknowledged ones here)."""
        channel = getattr(self._broker, "write_channel", None)
        if channel is None:
            raise ConfigError("The RabbitMQ broker is not started; call startup() first.")
        queue = await channel.declare_queue(self._queue, passive=True)
        return int(queue.declaration_result.message_count or 0)

    async def undelivered(self) -> int:
        """Messages no worker has taken yet."""
        return await self.depth()

    async def recover(self, alive: set[str]) -> int:
        """Nothing to do: RabbitMQ redelivers a dead consumer's unacknowledged messages."""
        return 0
