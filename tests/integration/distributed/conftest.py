"""Fixtures of the distributed-queue tests: a flushed Redis database, a fresh PostgreSQL one."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from tests.fakes.prerequisites import require_extra

# Without the extra the whole directory is skipped (outside CI) or fails (in CI).
require_extra("distributed", "redis", "taskiq_redis", "taskiq_aio_pika", "limits")

import redis  # noqa: E402
from tests.integration.distributed.support import (  # noqa: E402
    AMQP_URL,
    REDIS_HOST,
    REDIS_PORT,
    fresh_postgres,
    redis_db,
    service_env,
    unavailable,
)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:6379/<AIFACTORY_TEST_REDIS_DB>``, flushed before and after the test."""
    number = redis_db()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number, socket_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        client.close()
        unavailable(f"Redis on {REDIS_HOST}:{REDIS_PORT}", f"{type(exc).__name__}: {exc}")
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def database_url() -> Iterator[str]:
    """A new, migrated PostgreSQL database of this test's own."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture
def queue_name() -> str:
    """A stream or queue name no other test uses."""
    return f"aifactory-test-{secrets.token_hex(4)}"


@pytest.fixture
def env(database_url: str, redis_url: str, queue_name: str) -> dict[str, str]:
    """What every API replica and worker of the test is started with (Redis queue)."""
    return service_env(database_url, redis_url, queue_name)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Where the processes run and write their output."""
    return tmp_path


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        done = subprocess.run(["rabbitmqctl", *args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


async def _drop_amqp_names(url: str, queue_name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        for queue in (queue_name, f"{queue_name}.dead_letter"):
            with suppress(Exception):
                await channel.queue_delete(queue)
        with suppress(Exception):
            await channel.exchange_delete(queue_name)


@pytest.fixture
def amqp_url(queue_name: str) -> Iterator[str]:
    """RabbitMQ on 127.0.0.1:5672 in a vhost of the test's own.

    Without rabbitmqctl (or the right to use it) the default vhost is used, with this test's
    own queue and exchange names, deleted afterwards.
    """
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        unavailable("RabbitMQ on 127.0.0.1:5672", f"{type(exc).__name__}: {exc}")
    vhost = f"aifactory_test_{secrets.token_hex(4)}"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
        "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    ):
        try:
            yield f"{AMQP_URL}{vhost}"
        finally:
            _rabbitmqctl("delete_vhost", vhost)
        return
    try:
        yield AMQP_URL
    finally:
        asyncio.run(_drop_amqp_names(AMQP_URL, queue_name))
