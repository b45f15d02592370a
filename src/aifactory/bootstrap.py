"""The composition root: builds the services, workers and engine parts of a process from
``Settings``.

Only entry points import it: the app factory (:func:`aifactory.api.app.create_app`), the command
line and the worker. Nothing it builds imports it back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aifactory.engine.runner_factory import RunnerFactory
from aifactory.llm.concurrency import LimiterStateStore
from aifactory.llm.factory import LLMClients
from aifactory.settings import Settings

if TYPE_CHECKING:
    from aifactory.queue.inprocess import InProcessQueue
    from aifactory.queue.worker_process import DistributedWorker
    from aifactory.service.container import Services
    from aifactory.service.keys import KeyService

log = logging.getLogger("aifactory.queue.worker_process")


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


@asynccontextmanager
async def services(
    settings: Settings,
    *,
    session_secret: str,
    provision_first: bool = True,
    first_key: bool = False,
) -> AsyncIterator[Services]:
    """Every service of a serving process, started, and stopped in order after.

    Args:
        settings: everything configurable.
        session_secret: what signs dashboard sessions (the app factory resolves it).
        provision_first: migrate, store operator keys and seed the demo first
            (:mod:`aifactory.service.provisioning`, under a database-wide lock); False when a parent
            process did it.
        first_key: while provisioning, make (and print, once) an admin key when keys are
            required and none exists.
    """
    from aifactory.agents.env import EnvPolicy
    from aifactory.agents.ssrf import AddressPolicy
    from aifactory.queue.base import make_queue
    from aifactory.service.agents import AgentService
    from aifactory.service.auth import Authenticator
    from aifactory.service.container import Services
    from aifactory.service.insights import InsightService
    from aifactory.service.keys import KeyService
    from aifactory.service.operations import OperationsService
    from aifactory.service.probe import DatabaseProbe
    from aifactory.service.provisioning import first_key_notice, provision
    from aifactory.service.reflection import ReflectionService
    from aifactory.service.review import ReviewService
    from aifactory.service.runs import RunService
    from aifactory.service.sessions import Sessions
    from aifactory.service.suites import SuiteService
    from aifactory.service.throttle import FailureThrottle
    from aifactory.store.database import Database

    db = Database.from_settings(settings)
    if provision_first:
        plaintext = await provision(db, settings, seed_demo=settings.seed_demo, first_key=first_key)
        if plaintext:
            print(first_key_notice(plaintext), flush=True)
    policy = AddressPolicy(settings.allowed_hosts())
    env = EnvPolicy.from_settings(settings)
    async with runner_factory(settings) as factory:
        queue = make_queue(settings, db, factory)
        auth = Authenticator(
            db,
            enabled=settings.auth == "required",
            rate_per_minute=settings.rate_limit_per_minute,
            failures=FailureThrottle(settings.auth_failures_per_minute),
        )
        runs = RunService(
            db,
            factory,
            queue,
            policy,
            env=env,
            case_timeout_s=settings.case_timeout_s,
            conversation_timeout_s=settings.conversation_timeout_s,
        )
        reflections = ReflectionService(db, factory, runs)
        built = Services(
            settings=settings,
            db=db,
            auth=auth,
            sessions=Sessions(db, auth, secret=session_secret),
            agents=AgentService(db, policy, env=env),
            suites=SuiteService(db, max_bytes=settings.max_body_bytes),
            runs=runs,
            keys=KeyService(db, auth),
            insights=InsightService(db),
            operations=OperationsService(db, DatabaseProbe(db)),
            reflections=reflections,
            review=ReviewService(db),
            queue_info=queue.info,
        )
        await queue.start()
        await reflections.recover()
        try:
            yield built
        finally:
            # Reflection loops first: they cancel their runs while the queue still runs.
            await reflections.aclose()
            await queue.stop(grace_s=settings.shutdown_grace_s)
            await runs.aclose()
            await db.dispose()


def limits_url(settings: Settings) -> str | None:
    """The Redis URL for limits shared by workers: ``AIFACTORY_LIMITS_URL``, else the queue's."""
    from aifactory.queue.brokers import REDIS_SCHEMES, scheme_of

    if settings.limits_url:
        return settings.limits_url
    if settings.queue_url and scheme_of(settings.queue_url) in REDIS_SCHEMES:
        return settings.queue_url
    return None


@asynccontextmanager
async def worker(settings: Settings, *, concurrency: int) -> AsyncIterator[DistributedWorker]:
    """One ``aifactory worker`` process's worker, with its database and shared limits.

    Agent limits and adaptive provider limits are shared through Redis when there is one
    (:func:`limits_url`); with RabbitMQ and no Redis they hold per worker, and a warning says so.
    """
    from redis.asyncio import BlockingConnectionPool, Redis

    from aifactory.llm.redis_store import RedisLimiterStore
    from aifactory.queue.shared_limits import SharedAgentLimits
    from aifactory.queue.worker_process import DistributedWorker
    from aifactory.store.database import Database

    url = limits_url(settings)
    # A blocking pool: a burst of cases waits for a connection instead of failing for want of one.
    redis = (
        Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=64, timeout=30))
        if url
        else None
    )
    limits = SharedAgentLimits(redis, url) if redis is not None and url else None
    store = RedisLimiterStore(redis) if redis is not None else None
    if redis is None:
        log.warning(
            "No Redis for shared limits: each worker enforces agents' max_concurrency and "
            "rate_limit_per_minute on its own. Set AIFACTORY_LIMITS_URL=redis://… to share them."
        )
    db = Database.from_settings(settings)
    try:
        async with runner_factory(settings, limiter_store=store) as parts:
            yield DistributedWorker(db, parts, settings, concurrency=concurrency, limits=limits)
    finally:
        if limits is not None:
            await limits.aclose()
        if redis is not None:
            await redis.aclose()
        await db.dispose()


@asynccontextmanager
async def batch_runner(settings: Settings, *, concurrency: int) -> AsyncIterator[InProcessQueue]:
    """The batch runner process's queue, started: it runs every stored batch of the database.

    It is the only process running the database's batches (the servers beside it store them,
    :mod:`aifactory.queue.beside`), so on start it takes back every claim a previous runner
    left, and it looks for new runs every :data:`~aifactory.queue.runner_process.PICKUP_S`.
    """
    from aifactory.queue.inprocess import InProcessQueue
    from aifactory.queue.runner_process import PICKUP_S
    from aifactory.store.database import Database

    only_runner = settings.model_copy(update={"single_process": True})
    db = Database.from_settings(only_runner)
    try:
        async with runner_factory(only_runner) as parts:
            queue = InProcessQueue(
                db, parts, only_runner, concurrency=concurrency, reconcile_s=PICKUP_S
            )
            await queue.start()
            try:
                yield queue
            finally:
                await queue.stop(grace_s=settings.shutdown_grace_s)
    finally:
        await db.dispose()


@asynccontextmanager
async def keys(settings: Settings) -> AsyncIterator[KeyService]:
    """The key service of the command line (``aifactory keys``), on a migrated database."""
    from aifactory.service.keys import KeyService
    from aifactory.store import migrate
    from aifactory.store.database import Database

    db = Database.from_settings(settings)
    try:
        await migrate.upgrade(db.engine)
        yield KeyService(db)
    finally:
        await db.dispose()
