"""The runs of one reflection: launched, waited for, stopped, paid for and read back.

:class:`LoopRuns` keeps what the loop must know of its runs over the :class:`ReflectionRuns`
port: which are still going (a stopping loop cancels them) and what they cost (the budget counts
the runs' spend with the reflector's). Waiting ends at once on a cancel: :func:`interruptible`
raises :class:`Stop` (``cancelled``) as soon as the loop's cancel event is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from aifactory.domain.compare import CaseOutcome
from aifactory.domain.models import TestCase, TestResult
from aifactory.domain.runs import NewRun, Run
from aifactory.engine.reflection_measures import TaggedOutcome
from aifactory.engine.reflection_ports import ReflectionRuns
from aifactory.llm.reflector import MAX_FAILURES, MAX_PASSES

T = TypeVar("T")


class Stop(Exception):
    """Ends the loop with a stop reason, and for some a sentence saying why."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message


async def interruptible(work: Coroutine[Any, Any, T], cancel: asyncio.Event) -> T:
    """Await ``work``, or raise ``Stop("cancelled")`` as soon as ``cancel`` is set."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():  # cancelled, or the loop itself is being cancelled
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task.cancelled():
        raise Stop("cancelled")
    return task.result()


class LoopRuns:
    """The runs a reflection started, and their cost.

    Args:
        runs: where runs are launched, waited for and read.
        cancel: set to stop the loop; waiting ends at once.
    """

    def __init__(self, runs: ReflectionRuns, cancel: asyncio.Event) -> None:
        self._runs = runs
        self._cancel = cancel
        self._active: set[str] = set()
        self.cost = 0.0
        """What the ended runs cost, plus what :meth:`add_cost` added (the reflector)."""

    def add_cost(self, usd: float | None) -> None:
        self.cost += usd or 0.0

    async def launch(self, run: NewRun, cases: Sequence[TestCase]) -> str:
        """Start a run; it counts as active until waited for or stopped."""
        launched = await self._runs.launch(run, cases)
        self._active.add(launched.id)
        return launched.id

    async def wait(self, run_ids: Sequence[str]) -> dict[str, Run]:
        """The runs once every one has ended; their cost joins the reflection's.

        Raises:
            Stop: ``cancelled``, as soon as the loop is cancelled.
        """
        ended = await interruptible(self._wait_all(run_ids), self._cancel)
        for run_id in run_ids:
            self._active.discard(run_id)
            self.cost += await self._runs.spent_usd(run_id)
        return ended

    async def _wait_all(self, run_ids: Sequence[str]) -> dict[str, Run]:
        waits = [asyncio.ensure_future(self._runs.wait(run_id)) for run_id in run_ids]
        try:
            ended = await asyncio.gather(*waits)
        finally:
            for wait in waits:  # one failed: the others need not go on
                wait.cancel()
        return dict(zip(run_ids, ended, strict=True))

    async def stop_all(self) -> None:
        """Cancel the runs still going and count what they cost; never raises."""
        for run_id in list(self._active):
            with contextlib.suppress(Exception):
                await self._runs.cancel(run_id)
            with contextlib.suppress(Exception):
                self.cost += await self._runs.spent_usd(run_id)
        self._active.clear()

    async def outcomes(self, run_id: str) -> list[TaggedOutcome]:
        """Every finished result of the run, as comparisons need it."""
        found: list[TaggedOutcome] = []
        async for chunk in self._runs.iter_results(run_id):
            found.extend(
                (
                    CaseOutcome(
                        name=r.test_case.name,
                        repeat_index=r.repeat_index,
                        status=r.status,
                        score=r.score,
                    ),
                    list(r.test_case.tags),
                )
                for r in chunk
            )
        return found

    async def examples(self, run_id: str) -> tuple[list[TestResult], list[TestResult]]:
        """What the reflector is shown of a run: some failing results, a few passing ones."""
        failures: list[TestResult] = []
        for status in ("failed", "error"):
            page = await self._results(run_id, status, MAX_FAILURES)
            failures.extend(page)
        passes = await self._results(run_id, "passed", MAX_PASSES)
        return failures[:MAX_FAILURES], passes

    async def _results(self, run_id: str, status: str, limit: int) -> list[TestResult]:
        page = await self._runs.results(run_id, status=status, tag=None, limit=limit, offset=0)
        return page.items
