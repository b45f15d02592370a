"""A lock that the processes sharing one SQLite file take in turn before they write.

SQLite lets one connection write at a time; a second one waits in its busy handler, which polls
with sleeps of up to 100 ms. Under steady writes from several server processes those sleeps are
the tail latency. ``flock`` on a file beside the database queues the writers in the kernel
instead: a waiting process wakes the moment the holder lets go. The lock is advisory and covers
only our own writers; anything else that writes the file still meets SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


class InterProcessLock:
    """An exclusive ``flock`` on ``path``, taken without blocking the event loop.

    One holder per process at a time is the caller's job (:class:`~aifactory.store.database.
    Database` holds its ``asyncio.Lock`` around this one). An uncontended lock is taken at once;
    a contended one is waited for on a thread of its own.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock for the block."""
        fd = self._descriptor()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await self._wait(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    async def _wait(self, fd: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="aifactory-write-lock")
        waiting = asyncio.get_running_loop().run_in_executor(
            self._executor, fcntl.flock, fd, fcntl.LOCK_EX
        )
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread goes on waiting and will get the lock. Give it back before this task
            # (which still holds its process's turn) lets the next writer of the process in.
            while not waiting.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(waiting)
            if not waiting.cancelled() and waiting.exception() is None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            raise

    def close(self) -> None:
        """Close the file (releasing the lock if held) and the waiting thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
