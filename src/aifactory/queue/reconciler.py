"""The distributed queue's reconciler: whatever the broker lost, the database still knows.

Every ``aifactory worker`` runs one; a lock in the database (``locks_repo``) lets one act at a
time, and another takes over within a few seconds of the leader's death. Each pass:

1. **Re-queues tokens that dead workers held.** A worker's heartbeat is a row in the database
   (:mod:`aifactory.store.queue_repo`); tokens taken by a consumer without a live heartbeat are
   put back on the queue (:meth:`~aifactory.queue.brokers.BrokerOps.recover`). This covers
   taskiq-redis's gap, where a dead consumer's pending entries are only reclaimed when new
   messages arrive: here they come back on an idle queue too.
2. **Re-queues cases whose lease ran out.** Their worker died mid-chunk; a token for their run
   claims them again (expired leases are claimed first).
3. **Re-queues runs that stalled with nothing queued.** A run with pending cases whose progress
   has not moved for ``stall_s`` seconds while no token waits in the queue lost its tokens (Redis
   restarted, a submission's tokens never reached the broker): it gets tokens for what is
   pending. A run whose cases are all finished but which was never marked finished gets one
   token, which finishes it. Requiring an empty queue bounds the damage of a false alarm: extra
   tokens are only added when every earlier one has been taken.

Tokens are only hints ("claim up to N cases of run R"); claims and completions are idempotent in
the database, so a token too many costs an empty claim, never a second result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aifactory.queue.base import chunk_count
from aifactory.queue.brokers import BrokerOps
from aifactory.store import leases_repo, locks_repo, queue_repo, runs_repo
from aifactory.store.database import Database

log = logging.getLogger(__name__)

LOCK_NAME = "aifactory-reconciler"

Kick = Callable[[str, int], Awaitable[None]]
"""Queue ``n`` tokens for a run."""


@dataclass(slots=True)
class _Seen:
    progress: tuple[int, int]
    since: float


@dataclass(frozen=True, slots=True)
class Pass:
    """What one reconciler pass did."""

    recovered: int = 0
    """Tokens of dead workers put back on the queue."""
    expired: int = 0
    """Tokens queued for cases whose lease ran out."""
    stalled: int = 0
    """Tokens queued for runs that stalled with nothing queued."""


class Reconciler:
    """Repairs the queue from the database; see the module docstring.

    Args:
        db: the database (the record of truth).
        ops: the broker's depth and recovery.
        kick: queues tokens for a run.
        owner: this process's name on the leader lock.
        chunk_size: cases a token claims.
        lease_s: the case lease; a run is not re-queued for its expired cases more often.
        interval_s: seconds between passes.
        stall_s: how long a run may show no progress, with nothing queued, before it gets
            tokens again.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        db: Database,
        ops: BrokerOps,
        kick: Kick,
        *,
        owner: str,
        chunk_size: int,
        lease_s: float,
        interval_s: float = 1.0,
        stall_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._ops = ops
        self._kick = kick
        self.owner = owner
        self.chunk_size = chunk_size
        self.lease_s = lease_s
        self.interval_s = interval_s
        self.stall_s = stall_s
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._expiry_kicks: dict[str, float] = {}
        self.leading = False

    async def run(self) -> None:
        """Pass after pass, while this process holds the lock; forever (cancel to stop)."""
        while True:
            try:
                if await self.lead():
                    await self.reconcile_once()
            except Exception:  # the database or the broker may be away; the next pass retries
                log.warning("Reconciling the queue failed.", exc_info=True)
            await asyncio.sleep(self.interval_s)

    async def lead(self) -> bool:
        """Take or renew the leader lock; whether this process leads now."""
        ttl_s = max(3.0, 3 * self.interval_s)
        async with self._db.write() as session:
            leading = await locks_repo.acquire_lock(session, LOCK_NAME, self.owner, ttl_s=ttl_s)
        if leading != self.leading:
            log.info("Reconciler %s %s.", self.owner, "leads" if leading else "stands by")
            # A new leader starts its stall clocks afresh.
            self._seen.clear()
        self.leading = leading
        return leading

    async def resign(self) -> None:
        """Give the lock up (this worker is stopping), so another leads at once."""
        if self.leading:
            async with self._db.write() as session:
                await locks_repo.release_lock(session, LOCK_NAME, self.owner)
            self.leading = False

    async def reconcile_once(self) -> Pass:
        """One pass (whether or not this process leads; :meth:`run` checks that)."""
        async with self._db.session() as session:
            alive = set(await queue_repo.live_workers(session))
        recovered = await self._ops.recover(alive)
        undelivered = await self._ops.undelivered()
        async with self._db.session() as session:
            expired = await leases_repo.expired_leases(session)
            in_flight = await runs_repo.runs_in_flight(session)
            pending = await queue_repo.pending_counts(session, [run.id for run in in_flight])
        now = self._clock()
        active = {run.id for run in in_flight}
        kicks: Counter[str] = Counter()

        for run_id, count in Counter(lease.run_id for lease in expired).items():
            last = self._expiry_kicks.get(run_id)
            if run_id in active and (last is None or now - last >= self.lease_s):
                kicks[run_id] += chunk_count(count, self.chunk_size)
                self._expiry_kicks[run_id] = now
        expired_tokens = sum(kicks.values())

        stalled: Counter[str] = Counter()
        for run in in_flight:
            waiting = pending[run.id]
            progress = (run.completed + run.cancelled, waiting)
            seen = self._seen.get(run.id)
            if seen is None or seen.progress != progress:
                self._seen[run.id] = _Seen(progress, now)
                continue
            if now - seen.since < self.stall_s or undelivered > 0:
                continue
            if waiting > 0:
                stalled[run.id] = chunk_count(waiting, self.chunk_size)
            elif run.completed + run.cancelled >= run.total:
                stalled[run.id] = 1  # an empty claim finishes the run
            else:
                continue  # the rest is running under live leases
            seen.since = now
        kicks.update(stalled)

        for run_id in set(self._seen) - active:
            del self._seen[run_id]
        for run_id in set(self._expiry_kicks) - active:
            del self._expiry_kicks[run_id]
        for run_id, tokens in kicks.items():
            await self._kick(run_id, tokens)
        done = Pass(recovered, expired_tokens, sum(stalled.values()))
        if done.expired or done.stalled:
            log.info(
                "Reconciler queued %d tokens for expired leases and %d for stalled runs.",
                done.expired,
                done.stalled,
            )
        return done
