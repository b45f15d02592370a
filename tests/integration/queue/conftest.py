"""Fixtures of the queue tests: settings, the engine, and in-process queues stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tests.integration.queue.queue_support import queue_settings

from aifactory.bootstrap import runner_factory
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.queue.inprocess import InProcessQueue
from aifactory.settings import Settings
from aifactory.store.database import Database

StartQueue = Callable[..., Awaitable[InProcessQueue]]


@pytest.fixture
def settings() -> Settings:
    """Settings allowing loopback agents."""
    return queue_settings()


@pytest.fixture
async def parts(settings: Settings) -> AsyncIterator[RunnerFactory]:
    """The engine (no judge: no provider is configured)."""
    async with runner_factory(settings) as built:
        yield built


@pytest.fixture
async def start_queue(
    database: Database, parts: RunnerFactory, settings: Settings
) -> AsyncIterator[StartQueue]:
    """Starts in-process queues on ``database``; every one is stopped after the test."""
    started: list[InProcessQueue] = []

    async def start(**options: Any) -> InProcessQueue:
        options.setdefault("reconcile_s", 60.0)
        options.setdefault("poll_s", 0.1)
        queue = InProcessQueue(database, parts, settings, **options)
        await queue.start()
        started.append(queue)
        return queue

    yield start
    for queue in started:
        await queue.stop(grace_s=0)
