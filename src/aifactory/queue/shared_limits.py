"""Agent limits that hold for every worker together: a Redis semaphore and a Redis rate limit.

An agent's ``max_concurrency`` and ``rate_limit_per_minute`` protect the system under test, so
three workers must not each allow the full amount. :class:`SharedAgentLimits` gives the
:class:`~aifactory.queue.agent_pool.AgentPool` of every worker the same two limits per agent:

* :class:`RedisSemaphore`, a sorted set of holders scored by when their hold runs out (Redis
  server time, so the machines' clocks need not agree). A worker refreshes the holds it has
  every ``ttl_s / 3`` seconds; the holds of a worker that died run out after ``ttl_s`` and
  their slots come back on their own.
* :class:`RedisRateLimiter`, the ``limits`` library's moving window in Redis. The window is as
  short as the agent's burst allows (``max_concurrency`` calls), so calls are spread over the
  minute as the in-process token bucket spreads them, never more than the rate in any window.

Each process also bounds itself locally first, so only callers that could run at all ask Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aifactory.domain.models import AgentSpec
from aifactory.engine.limits import RateLimiter, Unlimited

log = logging.getLogger(__name__)

_REDIS_RETRY_S = 0.5

_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""

_REFRESH = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for i = 1, #ARGV - 1 do
  redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[#ARGV]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[#ARGV]) * 2)
return 1
"""


class RedisSemaphore:
    """At most ``limit`` holders over every process using ``key``.

    Args:
        redis: the client.
        key: the Redis key of the holders' sorted set.
        limit: holders allowed at once.
        ttl_s: how long a hold lasts unless refreshed (by :meth:`refresh`).
        poll_s: the longest pause between tries while the semaphore is full.
    """

    def __init__(
        self, redis: Redis, key: str, limit: int, *, ttl_s: float = 10.0, poll_s: float = 0.05
    ) -> None:
        if limit < 1:
            raise ValueError("A semaphore's limit must be at least 1.")
        self._redis = redis
        self.key = key
        self.limit = limit
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._poll_s = poll_s
        self._local = asyncio.Semaphore(limit)
        self._held: set[str] = set()
        self._by_task: dict[asyncio.Task[Any] | None, str] = {}
        self._acquire = redis.register_script(_ACQUIRE)
        self._refresh = redis.register_script(_REFRESH)

    @property
    def held(self) -> int:
        """Slots this process holds now."""
        return len(self._held)

    async def acquire(self) -> str:
        """Wait for a slot; returns the holder id to :meth:`release`."""
        await self._local.acquire()
        holder = uuid.uuid4().hex
        pause = 0.002
        try:
            while not await self._try(holder):
                await asyncio.sleep(pause * (0.5 + random.random()))
                pause = min(self._poll_s, pause * 2)
        except BaseException:
            self._local.release()
            raise
        self._held.add(holder)
        return holder

    async def _try(self, holder: str) -> bool:
        try:
            args: list[str | int] = [self.limit, self._ttl_ms, holder]
            return bool(await self._acquire(keys=[self.key], args=args))
        except RedisError as exc:
            # Redis away (restarting): wait rather than fail the case; the limit holds meanwhile.
            log.warning("Taking a slot of %s failed (%s); retrying.", self.key, exc)
            await asyncio.sleep(_REDIS_RETRY_S)
            return False

    async def release(self, holder: str) -> None:
        """Give the slot back (a lost release only delays it by ``ttl_s``)."""
        self._held.discard(holder)
        self._local.release()
        try:
            await self._redis.zrem(self.key, holder)
        except Exception:  # Redis away: the hold runs out by itself
            log.warning("Releasing a slot of %s failed; it frees itself later.", self.key)

    async def refresh(self) -> None:
        """Push the holds of this process forward by ``ttl_s``."""
        if self._held:
            await self._refresh(keys=[self.key], args=[*self._held, self._ttl_ms])

    async def __aenter__(self) -> None:
        """Hold one slot for the block (a task holds at most one slot of a semaphore)."""
        task = asyncio.current_task()
        holder = await self.acquire()
        self._by_task[task] = holder

    async def __aexit__(self, *exc_info: object) -> None:
        holder = self._by_task.pop(asyncio.current_task(), None)
        if holder is not None:
            # Shielded: a cancelled case must still give its slot back now, not after ttl_s.
            await asyncio.shield(self.release(holder))


class RedisRateLimiter:
    """At most ``amount`` acquisitions in any ``window_s`` seconds, over every process.

    Args:
        limiter: a moving-window limiter on a Redis storage (shared by many keys).
        key: what is limited (an agent id).
        amount: acquisitions allowed per window.
        window_s: the window, in whole seconds.
    """

    def __init__(
        self, limiter: MovingWindowRateLimiter, key: str, amount: int, window_s: int
    ) -> None:
        if amount < 1 or window_s < 1:
            raise ValueError("A rate limit needs an amount and a window of at least 1.")
        self._limiter = limiter
        self._item = RateLimitItemPerSecond(amount, window_s)
        self._key = key
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call fits in the window, and count it."""
        # One waiter per process asks Redis at a time: the others would only be told "later".
        async with self._lock:
            while True:
                try:
                    if await self._limiter.hit(self._item, "aifactory-agent", self._key):
                        return
                    stats = await self._limiter.get_window_stats(
                        self._item, "aifactory-agent", self._key
                    )
                    wait = stats.reset_time - time.time()
                except Exception as exc:  # Redis away: wait for it rather than fail the case
                    log.warning("Checking the rate limit of %s failed (%s).", self._key, exc)
                    wait = _REDIS_RETRY_S
                await asyncio.sleep(min(1.0, max(0.002, wait)))


def rate_window(per_minute: int, burst: int) -> tuple[int, int]:
    """``(amount, window_s)`` for ``per_minute`` calls with bursts of about ``burst``.

    The window is the shortest whole number of seconds (1 to 60) holding ``burst`` calls, so
    calls are spread over the minute rather than all allowed in its first second.
    """
    window_s = min(60, max(1, math.ceil(60 * max(1, burst) / per_minute)))
    amount = max(1, math.floor(per_minute * window_s / 60))
    return amount, window_s


class SharedAgentLimits:
    """:class:`~aifactory.queue.agent_pool.AgentLimits` kept in Redis for every worker.

    Args:
        redis: a client for the semaphores.
        storage_url: the Redis URL for the rate limits (``redis://…``).
        prefix: key prefix, so deployments can share a Redis.
        slot_ttl_s: how long a dead worker's concurrency slots stay taken.
    """

    def __init__(
        self,
        redis: Redis,
        storage_url: str,
        *,
        prefix: str = "aifactory",
        slot_ttl_s: float = 10.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._slot_ttl_s = slot_ttl_s
        self._rates = MovingWindowRateLimiter(RedisStorage(f"async+{storage_url}"))
        self._semaphores: dict[tuple[str, int], RedisSemaphore] = {}
        self._refresher: asyncio.Task[None] | None = None

    def concurrency(self, spec: AgentSpec) -> AbstractAsyncContextManager[Any]:
        """The agent's ``max_concurrency``, shared by every worker."""
        agent = spec.id or spec.name or "agent"
        key = (agent, spec.max_concurrency)
        semaphore = self._semaphores.get(key)
        if semaphore is None:
            semaphore = RedisSemaphore(
                self._redis,
                f"{self._prefix}:agent-slots:{agent}",
                spec.max_concurrency,
                ttl_s=self._slot_ttl_s,
            )
            self._semaphores[key] = semaphore
            self._ensure_refresher()
        return semaphore

    def rate(self, spec: AgentSpec) -> RateLimiter:
        """The agent's ``rate_limit_per_minute``, shared by every worker."""
        if spec.rate_limit_per_minute is None:
            return Unlimited()
        amount, window_s = rate_window(spec.rate_limit_per_minute, spec.max_concurrency)
        agent = spec.id or spec.name or "agent"
        return RedisRateLimiter(self._rates, f"{self._prefix}:{agent}", amount, window_s)

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_loop(), name="aifactory-slots")

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._slot_ttl_s / 3)
            for semaphore in list(self._semaphores.values()):
                try:
                    await semaphore.refresh()
                except Exception:  # a missed refresh costs nothing while the hold lasts
                    log.warning("Refreshing the slots of %s failed.", semaphore.key)

    async def aclose(self) -> None:
        """Stop refreshing (held slots run out by themselves)."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
