"""The database check behind ``GET /health``, shared by concurrent callers and briefly reused.

A load balancer, a monitoring probe and a benchmark may all ask for ``/health`` at once; a
round trip to the database for each (on SQLite a hop to a driver thread, and a new pooled
connection once the pool is out) makes ``/health`` far slower than the app it reports on. One
check at a time per process, its answer reused for ``ttl_s``, keeps the answer honest to within
a second at a fraction of the cost.
"""

from __future__ import annotations

import asyncio
import time

from aifactory.store.database import Database

DEFAULT_TTL_S = 1.0


class DatabaseProbe:
    """Whether the database answers, checked at most once per ``ttl_s`` in this process."""

    def __init__(self, db: Database, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._checked_at = float("-inf")
        self._ok = False
        self._inflight: asyncio.Future[bool] | None = None

    async def ok(self) -> bool:
        """The database's state as of at most ``ttl_s`` ago; concurrent callers share a check."""
        if time.monotonic() - self._checked_at < self.ttl_s:
            return self._ok
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._check())
        # shield: a caller that goes away must not cancel the check the others wait for.
        return await asyncio.shield(self._inflight)

    async def _check(self) -> bool:
        try:
            ok = await self.db.ping()
        finally:
            self._inflight = None
        self._ok = ok
        self._checked_at = time.monotonic()
        return ok
