"""taskiq-redis's stream broker, made to lose nothing when workers or Redis die.

:class:`ChunkStreamBroker` is ``RedisStreamBroker`` with four changes:

* **Acknowledged after the work is stored.** taskiq acknowledges a token once its task returned,
  and the task returns once its cases are recorded in the database. The acknowledgement also
  deletes the entry (``XACK`` + ``XDEL`` in one transaction), so the stream holds exactly the
  tokens still to do: ``XLEN`` is the queue's depth.
* **No ``XAUTOCLAIM`` in the read loop.** taskiq-redis reclaims idle pending entries only after a
  read returned new messages, so a dead consumer's entries wait for the next batch, forever on an
  idle queue; and its reclaim lock has no expiry unless configured, so a consumer killed while
  holding it blocks reclaiming for good. Here the reconciler reclaims instead
  (:meth:`RedisStreamOps.recover`), by worker liveness rather than idle time, whether or not new
  tokens arrive, so a long chunk on a live worker is never handed to a second one.
* **A lost consumer group is recreated.** A Redis restarted without persistence comes back
  empty; reads then fail with ``NOGROUP`` and the group is created again (reading from the
  start of the stream, so tokens queued before the group existed are delivered too).
* **Connection errors are waited out** instead of ending the worker's read loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

log = logging.getLogger(__name__)

_NEVER_MS = 7 * 24 * 3600 * 1000
_RECOVER_BATCH = 500


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ChunkStreamBroker(RedisStreamBroker):
    """A Redis stream broker whose tokens survive dead workers and a restarted Redis.

    Args:
        url: the Redis URL (``redis://host:port/db``).
        stream: the stream's key.
        consumer_name: this process's consumer name; the reconciler matches it against worker
            heartbeats, so a worker uses its lease owner name.
        read_block_ms: how long one read waits for a token.
        read_count: tokens taken per read; 1, so no token waits in a busy worker's buffer
            while another worker is idle.
        retry_s: pause after a failed read (Redis unreachable).
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        consumer_name: str | None = None,
        read_block_ms: int = 1000,
        read_count: int = 1,
        retry_s: float = 0.5,
    ) -> None:
        super().__init__(
            url,
            queue_name=stream,
            consumer_group_name=f"{stream}:workers",
            consumer_name=consumer_name,
            consumer_id="0",
            xread_block=read_block_ms,
            xread_count=read_count,
            idle_timeout=_NEVER_MS,
            health_check_interval=10,
            socket_connect_timeout=2,
        )
        self.retry_s = retry_s

    def client(self) -> Redis:
        """A client on the broker's connection pool (close it; the pool stays)."""
        return Redis(connection_pool=self.connection_pool)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless they exist."""
        async with self.client() as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def startup(self) -> None:
        """Start, and create the consumer group when Redis answers (later otherwise)."""
        await super(RedisStreamBroker, self).startup()
        try:
            await self.ensure_group()
        except RedisError as exc:  # Redis is away now; reading creates the group later
            log.warning("Redis is unreachable at start (%s); will retry.", exc)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                async with self.client() as redis, redis.pipeline(transaction=True) as pipe:
                    pipe.xack(queue_name, self.consumer_group_name, id)
                    pipe.xdel(queue_name, id)
                    await pipe.execute()
            except RedisError as exc:
                # Redis lost the entry (restarted) or is away: the work is stored already, and
                # an entry that survived is re-queued once this worker's heartbeat is gone.
                log.warning("Acknowledging token %s failed: %s", _text(id), exc)

        return ack

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield tokens as they come, forever; waits out Redis being away."""
        streams: dict[Any, Any] = {self.queue_name: ">"}
        while True:
            try:
                async with self.client() as redis:
                    while True:
                        fetched: Any = await redis.xreadgroup(
                            self.consumer_group_name,
                            self.consumer_name,
                            streams,
                            count=self.count,
                            block=self.block,
                        )
                        for stream, entries in fetched or []:
                            for entry_id, fields in entries:
                                yield AckableMessage(
                                    data=fields[b"data"],
                                    ack=self._ack_generator(_text(entry_id), _text(stream)),
                                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("The consumer group is gone (Redis restarted?); recreating it.")
                    await self._retry(self.ensure_group)
                else:
                    log.warning("Reading tokens failed: %s", exc)
                    await asyncio.sleep(self.retry_s)
            except RedisError as exc:
                log.warning("Reading tokens failed (%s); retrying.", exc)
                await asyncio.sleep(self.retry_s)

    async def _retry(self, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except RedisError as exc:
            log.warning("Redis is still away (%s).", exc)
            await asyncio.sleep(self.retry_s)


class RedisStreamOps:
    """What the queue and the reconciler need to know of a :class:`ChunkStreamBroker`."""

    def __init__(self, broker: ChunkStreamBroker) -> None:
        self._broker = broker
        self._stream = broker.queue_name
        self._group = broker.consumer_group_name

    async def depth(self) -> int:
        """Tokens queued or being executed (entries leave the stream when acknowledged)."""
        async with self._broker.client() as redis:
            return int(await redis.xlen(self._stream))

    async def undelivered(self) -> int:
        """Tokens no worker has taken yet."""
        async with self._broker.client() as redis:
            length = int(await redis.xlen(self._stream))
            try:
                summary = await redis.xpending(self._stream, self._group)
            except ResponseError:  # no group yet: nobody has read anything
                return length
        return max(0, length - int(summary["pending"]))

    async def recover(self, alive: set[str]) -> int:
        """Re-queue the tokens that workers which are not ``alive`` took and never acknowledged.

        Each entry is copied to the end of the stream and the original acknowledged and deleted,
        in one transaction; the dead consumer is then forgotten. A worker wrongly thought dead
        costs a second delivery of a token, which claims nothing twice.

        Returns:
            Tokens re-queued.
        """
        moved = 0
        async with self._broker.client() as redis:
            try:
                summary = await redis.xpending(self._stream, self._group)
            except ResponseError:
                return 0
            for consumer in summary.get("consumers") or []:
                name = _text(consumer["name"])
                if name in alive:
                    continue
                moved += await self._move_pending(redis, name)
        return moved

    async def _move_pending(self, redis: Redis, consumer: str) -> int:
        moved = 0
        while True:
            entries: Any = await redis.xpending_range(
                self._stream,
                self._group,
                min="-",
                max="+",
                count=_RECOVER_BATCH,
                consumername=consumer,
            )
            for entry in entries:
                entry_id = _text(entry["message_id"])
                rows: Any = await redis.xrange(self._stream, min=entry_id, max=entry_id)
                async with redis.pipeline(transaction=True) as pipe:
                    if rows:
                        pipe.xadd(self._stream, rows[0][1])
                    pipe.xack(self._stream, self._group, entry_id)
                    pipe.xdel(self._stream, entry_id)
                    await pipe.execute()
                moved += 1 if rows else 0
            if len(entries) < _RECOVER_BATCH:
                break
        await redis.xgroup_delconsumer(self._stream, self._group, consumer)
        if moved:
            log.warning("Re-queued %d tokens of worker %s, which is gone.", moved, consumer)
        return moved
