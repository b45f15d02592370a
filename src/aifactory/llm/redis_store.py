"""A :class:`~aifactory.llm.concurrency.LimiterStateStore` in Redis, shared by every worker.

Every worker of the distributed queue calls the same providers; when one of them gets a 429 the
others must slow down too, so the adaptive limit of each provider key lives in one Redis hash
field. ``update`` applies the change in a ``WATCH``/``MULTI`` loop: a change computed from a
state another worker replaced meanwhile is recomputed from the new state, never lost.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis
from redis.exceptions import WatchError

from aifactory.llm.concurrency import LimiterState, StateChange

_MAX_TRIES = 50


def _decode(raw: bytes | str | None) -> LimiterState | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return LimiterState(
        limit=int(data["limit"]), successes=int(data["successes"]), epoch=int(data["epoch"])
    )


def _encode(state: LimiterState) -> str:
    return json.dumps({"limit": state.limit, "successes": state.successes, "epoch": state.epoch})


class RedisLimiterStore:
    """Adaptive limiter states in Redis keys ``{prefix}:{key}``.

    Args:
        redis: the client (its connection pool is shared with the caller; not closed here).
        prefix: the key prefix, so several deployments can share one Redis.
        ttl_s: a state nobody touched for this long is forgotten (the limit starts full again).
    """

    def __init__(self, redis: Redis, *, prefix: str = "aifactory:llm-limit", ttl_s: int = 3600):
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def get(self, key: str) -> LimiterState | None:
        """The state stored under ``key``, if any."""
        return _decode(await self._redis.get(self._key(key)))

    async def update(self, key: str, change: StateChange) -> LimiterState:
        """Replace the state under ``key`` by ``change(state)`` atomically; the new state.

        Raises:
            RuntimeError: the key kept changing under this update (50 tries).
        """
        name = self._key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_TRIES):
                try:
                    await pipe.watch(name)
                    new = change(_decode(await pipe.get(name)))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(name, _encode(new), ex=self._ttl_s)
                    await pipe.execute()
                    return new
                except WatchError:
                    continue
        raise RuntimeError(f"The shared limiter state {key!r} kept changing; try again.")
