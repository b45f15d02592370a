"""Per-agent limits inside one process: a rate limiter (token bucket).

Concurrency needs no object of its own: the runner starts exactly ``concurrency`` workers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class RateLimiter(Protocol):
    """Admits one call at a time at no more than its rate."""

    async def acquire(self) -> None: ...


class TokenBucket:
    """A token bucket: ``rate_per_minute`` calls per minute, bursts up to ``burst``.

    Waiters are served in arrival order, so no case starves.
    """

    def __init__(self, rate_per_minute: float, *, burst: int | None = None) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, int(rate_per_minute / 60)))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def try_acquire(self) -> float:
        """Take a token now if there is one (0.0), else the seconds until there will be."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate_per_s

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate_per_s)
                self._refill()
            self._tokens -= 1


class Unlimited:
    """A limiter that never waits."""

    async def acquire(self) -> None:
        return None
