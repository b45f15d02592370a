"""Runs many cases concurrently against one agent and streams the results to a sink.

Memory does not grow with the number of cases: cases are pulled lazily from an iterator by a
fixed pool of workers, every result goes to the sink as it finishes, and the summary keeps
numbers only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from aifactory.domain.checks import BuiltCheck
from aifactory.domain.models import RunSummary, TestCase, TestResult
from aifactory.engine.case_runner import CaseRunner
from aifactory.engine.limits import RateLimiter, Unlimited
from aifactory.engine.summary import SummaryBuilder
from aifactory.errors import CheckSpecError


class ResultSink(Protocol):
    """Receives each result as it finishes."""

    async def write(self, result: TestResult) -> None: ...


class ListSink:
    """Keeps results in a list (for small runs and tests)."""

    def __init__(self) -> None:
        self.results: list[TestResult] = []

    async def write(self, result: TestResult) -> None:
        self.results.append(result)


class NullSink:
    """Discards results (the summary still counts them)."""

    async def write(self, result: TestResult) -> None:
        return None


ProgressCallback = Callable[[SummaryBuilder], None]


@dataclass(slots=True)
class RunOptions:
    """How a batch of cases is run."""

    concurrency: int = 8
    repeat: int = 1
    budget_usd: float | None = None
    """Stop starting new cases once agent plus judge cost reaches this."""


Cases = Iterable[TestCase] | AsyncIterable[TestCase]


async def _aiter(cases: Cases) -> AsyncIterator[TestCase]:
    if isinstance(cases, AsyncIterable):
        async for case in cases:
            yield case
    else:
        for case in cases:
            yield case


async def run_cases(
    cases: Cases,
    runner: CaseRunner,
    sink: ResultSink,
    *,
    options: RunOptions | None = None,
    limiter: RateLimiter | None = None,
    total: int = 0,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], Awaitable[bool] | bool] | None = None,
) -> RunSummary:
    """Run every case (``repeat`` times each) and return the summary.

    Args:
        cases: the cases, pulled lazily (a generator over a huge file is fine).
        runner: runs one case against the agent.
        sink: receives each result as soon as it is graded.
        options: concurrency, repeat and budget.
        limiter: the agent's rate limit.
        total: the number of results expected, for progress (cases × repeat).
        on_progress: called after each result with the running summary.
        should_stop: polled before each case; true stops the run (cancel).
    """
    opts = options or RunOptions()
    limiter = limiter or Unlimited()
    if runner.turn_gate is None:
        # A conversation's later turns are requests too: each waits for the agent's rate limit.
        runner.turn_gate = limiter.acquire
    summary = SummaryBuilder(total, repeat=opts.repeat)
    stop_reason: str | None = None
    source = _aiter(cases)
    counter = itertools.count()
    pending: list[tuple[int, int, TestCase, list[BuiltCheck] | None]] = []
    source_lock = asyncio.Lock()

    async def next_item() -> tuple[int, int, TestCase, list[BuiltCheck] | None] | None:
        async with source_lock:
            if pending:
                return pending.pop()
            try:
                case = await anext(source)
            except StopAsyncIteration:
                return None
            index = next(counter)
            try:
                built: list[BuiltCheck] | None = runner.build_checks(case)
            except CheckSpecError:
                built = None  # the case runner turns it into an error result
            # Repeats of a case reuse its built checks; they run before the next case.
            pending.extend((index, r, case, built) for r in range(opts.repeat - 1, 0, -1))
            return index, 0, case, built

    async def worker() -> None:
        nonlocal stop_reason
        while stop_reason is None:
            if should_stop is not None:
                verdict = should_stop()
                if not isinstance(verdict, bool):
                    verdict = await verdict
                if verdict:
                    stop_reason = stop_reason or "cancelled"
                    return
            if opts.budget_usd is not None and summary.cost_usd >= opts.budget_usd:
                stop_reason = stop_reason or "budget"
                return
            item = await next_item()
            if item is None:
                return
            index, repeat_index, case, built = item
            await limiter.acquire()
            result = await runner.run(
                case,
                case_index=index,
                repeat_index=repeat_index,
                checks=built if built is not None else None,
            )
            summary.add(result)
            await sink.write(result)
            if on_progress is not None:
                on_progress(summary)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, opts.concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
    return summary.build(stopped_reason=stop_reason)
