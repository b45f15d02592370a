"""The composition root: wires settings into the engine's shared parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aifactory.engine.runner_factory import RunnerFactory
from aifactory.llm.concurrency import LimiterStateStore
from aifactory.llm.factory import LLMClients
from aifactory.settings import Settings


@asynccontextmanager
async def runner_factory(
    settings: Settings, *, limiter_store: LimiterStateStore | None = None
) -> AsyncIterator[RunnerFactory]:
    """Build the engine's shared parts and close them after.

    Args:
        settings: everything configurable.
        limiter_store: where the adaptive provider limits live (default: in this process;
            workers of the distributed queue pass a Redis store so they share one limit).
    """
    from aifactory.llm.judge import make_judge

    clients = LLMClients(settings, limiter_store=limiter_store)
    try:
        yield RunnerFactory(settings=settings, clients=clients, judge=make_judge(settings, clients))
    finally:
        await clients.aclose()
