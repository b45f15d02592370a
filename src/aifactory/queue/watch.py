"""Watching for a run's end: woken by this process's worker, or re-reading after a while.

Whoever waits for a run opens a watch *before* reading the run's status, reads it, and while the
run goes on calls :meth:`RunWatch.wait`; then reads it again. A watch never says the run ended,
only that it is worth reading again, so a missed or spurious wake costs a read, never a wrong
answer, and the timeout bounds how late a missed end is noticed.

- :class:`RunEnds` (the in-process queue): the worker that ends a run here (completed, failed,
  cancelled) wakes that run's watches at once.
- :func:`timed_watch` (the distributed queue, whose workers are other processes): a watch that
  only times out, so the waiter re-reads the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Protocol


class RunWatch(Protocol):
    """A watch on one run's end."""

    async def wait(self, timeout_s: float) -> None:
        """Return when the run may have ended, or after ``timeout_s`` seconds at most."""
        ...


class _Sleep:
    async def wait(self, timeout_s: float) -> None:
        await asyncio.sleep(timeout_s)


@contextlib.contextmanager
def timed_watch(run_id: str) -> Iterator[RunWatch]:
    """A watch nobody wakes: it returns after its timeout (runs ended by other processes)."""
    del run_id
    yield _Sleep()


class _EventWatch:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout_s)
        self.event.clear()


class RunEnds:
    """The watches open in this process, per run, and the news that a run ended."""

    def __init__(self) -> None:
        self._watches: dict[str, set[_EventWatch]] = {}

    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[RunWatch]:
        """A watch woken by :meth:`ended` for ``run_id`` (closed on leaving the block)."""
        watch = _EventWatch()
        self._watches.setdefault(run_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(run_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[run_id]

    def ended(self, run_id: str) -> None:
        """Wake the run's watches (the run ended, or may have)."""
        for watch in self._watches.get(run_id, ()):
            watch.event.set()

    def watched(self) -> int:
        """Runs with an open watch."""
        return len(self._watches)
