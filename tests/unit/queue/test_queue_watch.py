"""Run watches: woken by the news of a run's end, never losing one that came before the wait."""

from __future__ import annotations

import asyncio

from aifactory.queue.watch import RunEnds, timed_watch

HOUR = 3600.0
"""A timeout no test waits out: only a wake ends these waits."""


async def test_the_end_of_a_run_wakes_its_watches() -> None:
    ends = RunEnds()
    with ends.watch("r1") as first, ends.watch("r1") as second:
        waits = [asyncio.ensure_future(w.wait(HOUR)) for w in (first, second)]
        await asyncio.sleep(0)
        ends.ended("r1")
        await asyncio.wait_for(asyncio.gather(*waits), 60)


async def test_an_end_before_the_wait_is_not_lost() -> None:
    ends = RunEnds()
    with ends.watch("r1") as watch:
        # The run ended between opening the watch and reading the run: the wait returns at once.
        ends.ended("r1")
        await asyncio.wait_for(watch.wait(HOUR), 60)


async def test_another_run_ending_leaves_the_watch_asleep() -> None:
    ends = RunEnds()
    with ends.watch("r1") as watch:
        ends.ended("r2")
        waiting = asyncio.ensure_future(watch.wait(HOUR))
        await asyncio.sleep(0)
        assert not waiting.done()
        ends.ended("r1")
        await asyncio.wait_for(waiting, 60)


async def test_a_closed_watch_is_forgotten() -> None:
    ends = RunEnds()
    with ends.watch("r1"), ends.watch("r2"):
        assert ends.watched() == 2
    assert ends.watched() == 0
    ends.ended("r1")  # nobody waits: nothing happens


async def test_a_timed_watch_returns_after_its_timeout() -> None:
    with timed_watch("r1") as watch:
        await asyncio.wait_for(watch.wait(0), 60)
