"""The API side of the distributed queue: backpressure, what /health and /metrics report, and
a batch through RabbitMQ with the same task code.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.fakes.server_process import free_port, running_server
from tests.integration.distributed.support import (
    assert_each_case_ended_once,
    cases,
    create_agent,
    run_status,
    service_env,
    start_worker,
    submit,
    wait_for_run,
    workers,
)

from aifactory.api.app import create_app
from aifactory.settings import load_settings

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@asynccontextmanager
async def api(tmp_path: Path, queue_url: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process on a scratch SQLite file, batches going to ``queue_url``."""
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
            "AIFACTORY_QUEUE_URL": queue_url,
            "AIFACTORY_AUTH": "disabled",
            **env,
        }
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(base_url="http://test", transport=httpx.ASGITransport(app)) as client,
    ):
        agent = {"id": "a", "name": "a", "kind": "scripted", "config": {"default": "ok"}}
        assert (await client.post("/api/v1/agents", json=agent)).status_code == 201
        yield client


def _batch(n: int) -> dict[str, object]:
    return {"agent_id": "a", "test_cases": cases(n)}


async def _queue_info(client: httpx.AsyncClient, depth: int) -> dict[str, object]:
    """/health's queue section once it shows ``depth`` (it is refreshed every second)."""
    deadline = time.monotonic() + 30  # only guards against a hang
    while True:
        queue: dict[str, object] = (await client.get("/health")).json()["queue"]
        if queue.get("depth") == depth or time.monotonic() > deadline:
            return queue


async def test_a_full_queue_answers_503_with_retry_after_and_stores_nothing(
    tmp_path: Path, redis_url: str, queue_name: str
) -> None:
    async with api(
        tmp_path, redis_url, AIFACTORY_QUEUE_MAX_DEPTH="3", AIFACTORY_QUEUE_NAME=queue_name
    ) as client:
        first = await client.post("/api/v1/test/batch", json=_batch(150))  # three chunks
        refused = await client.post("/api/v1/test/batch", json=_batch(1))
        health = await _queue_info(client, 3)
        metrics = (await client.get("/api/v1/metrics")).json()
        runs = (await client.get("/api/v1/runs")).json()
    assert first.status_code == 202
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["error"]["code"] == "queue_full"
    assert "limit is 3" in refused.json()["error"]["message"]
    assert runs["total"] == 1  # the refused batch left nothing behind
    assert health == {
        "backend": "redis",
        "broker": "ok",
        "depth": 3,
        "max_depth": 3,
        "workers": 0,
    }
    assert metrics["queue"]["depth"] == 3 and metrics["queue"]["workers"] == 0


async def test_an_unreachable_broker_is_reported_and_batches_are_still_accepted(
    tmp_path: Path,
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with api(tmp_path, nowhere) as client:
        health = await client.get("/health")
        accepted = await client.post("/api/v1/test/batch", json=_batch(10))
        run = (await client.get(f"/api/v1/runs/{accepted.json()['run_id']}")).json()
    # The database answers, so the replica stays in rotation; the broker's state is reported.
    assert health.status_code == 200
    assert health.json()["queue"]["broker"] == "unreachable"
    # Stored all the same: the workers' reconciler queues it once the broker is back.
    assert accepted.status_code == 202
    assert run["status"] == "queued" and run["total"] == 10


def test_rabbitmq_runs_the_same_tasks_and_survives_a_killed_worker(
    workdir: Path, database_url: str, amqp_url: str, queue_name: str
) -> None:
    env = service_env(database_url, amqp_url, queue_name)
    with (
        running_server(workdir, env, args=("--no-seed-demo",)) as server,
        workers(workdir, env, 2) as started,
    ):
        create_agent(server.url, "rabbit", latency_ms=10)
        run_id = submit(server.url, "rabbit", 1500)
        while run_status(server.url, run_id)["completed"] < 200:
            time.sleep(0.05)
        started[0].kill()
        started.append(start_worker(workdir, env))
        done = wait_for_run(server.url, run_id, timeout_s=60)
        health = httpx.get(f"{server.url}/health", timeout=10).json()
    assert done["completed"] == 1500
    assert_each_case_ended_once(database_url, run_id, 1500)
    assert health["queue"]["backend"] == "amqp" and health["queue"]["broker"] == "ok"
