"""What the broker loses, the database and the reconciler bring back.

* Redis restarted mid-batch, empty (no persistence): the stream and its consumer group are gone,
  yet the batch completes.
* A worker killed while it holds tokens, on a queue where no new token ever arrives (the case
  taskiq-redis's own reclaim never covers): another worker still gets its chunks.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
import redis
from tests.fakes.gated_agent import gated_agent
from tests.fakes.server_process import running_server
from tests.integration.distributed.support import (
    assert_each_case_ended_once,
    create_agent,
    pg_fetch,
    redis_server,
    run_status,
    service_env,
    start_worker,
    submit,
    wait_for_run,
    workers,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def test_a_batch_completes_when_redis_restarts_empty_mid_batch(
    workdir: Path, database_url: str, queue_name: str
) -> None:
    with redis_server(workdir) as server:
        env = service_env(database_url, server.url, queue_name)
        with (
            running_server(workdir, env, args=("--no-seed-demo",)) as api,
            workers(workdir, env, 2),
        ):
            create_agent(api.url, "steady", latency_ms=10)
            run_id = submit(api.url, "steady", 2000)
            while run_status(api.url, run_id)["completed"] < 300:
                time.sleep(0.1)
            server.kill()
            at_kill = run_status(api.url, run_id)["completed"]
            time.sleep(1.0)
            server.start()
            assert redis.Redis.from_url(server.url).exists(queue_name) == 0  # it came back empty
            done = wait_for_run(api.url, run_id, timeout_s=60)
    assert at_kill < 2000, "the batch finished before Redis went away; make it longer"
    assert_each_case_ended_once(database_url, run_id, 2000)
    assert done["completed"] == 2000


def test_an_idle_queue_still_hands_a_dead_workers_chunks_to_another_worker(
    workdir: Path, env: dict[str, str], database_url: str, redis_url: str, queue_name: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    group = f"{queue_name}:workers"
    with running_server(workdir, env, args=("--no-seed-demo",)) as api:
        create_agent(api.url, "slow", latency_ms=1000)
        first = start_worker(workdir, env, concurrency=4)
        try:
            run_id = submit(api.url, "slow", 100)  # two tokens; the first worker takes both
            deadline = time.monotonic() + 30
            while client.xpending(queue_name, group)["pending"] < 2:
                assert time.monotonic() < deadline, "the first worker never took the tokens"
                time.sleep(0.05)
            assert client.xlen(queue_name) == 2  # nothing waits undelivered: the queue is idle
        finally:
            first.kill()
        with workers(workdir, env, 1, concurrency=100):
            # Normally the lease (3 s), a heartbeat's expiry and a reconciler pass; the deadline
            # only guards against a hang (bench/distributed.py prints the recovery time).
            done = wait_for_run(api.url, run_id, timeout_s=120)
        consumers = client.xpending(queue_name, group)["consumers"]
    client.close()
    assert done["completed"] == 100
    assert_each_case_ended_once(database_url, run_id, 100)
    assert consumers == []  # the dead consumer's entries were moved, and it was forgotten


def test_sigterm_finishes_in_flight_cases_and_hands_the_rest_back_at_once(
    workdir: Path, database_url: str, redis_url: str, queue_name: str
) -> None:
    # A ten-minute lease: only a released case can be picked up again within the test.
    env = service_env(
        database_url, redis_url, queue_name, AIFACTORY_LEASE_S="600", LOG_LEVEL="INFO"
    )
    with (
        gated_agent("ok") as gate,
        running_server(workdir, env, args=("--no-seed-demo",)) as api,
    ):
        create_agent(api.url, "patient", kind="http", config={"url": f"{gate.url}/agent"})
        leaving = start_worker(workdir, env, concurrency=8)
        run_id = submit(api.url, "patient", 100)
        gate.wait_for_arrivals(8)  # eight cases are in the agent's hands, held there
        leaving.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while "stopping: finishing in-flight cases" not in leaving.log():
            assert time.monotonic() < deadline, leaving.log()
            time.sleep(0.05)
        gate.open()  # they answer only now, within the grace period (5 s)
        code = leaving.process.wait(timeout=60)
        finished_by_leaving = run_status(api.url, run_id)["completed"]
        left_running = _count(database_url, run_id, "running")
        with workers(workdir, env, 1, concurrency=100):
            wait_for_run(api.url, run_id, timeout_s=120)
    assert code == 0  # a clean exit, not a kill
    assert finished_by_leaving >= 8  # the cases in flight at SIGTERM were finished and stored
    assert left_running == 0  # the rest were released, not left to their lease
    assert_each_case_ended_once(database_url, run_id, 100)


def _count(url: str, run_id: str, status: str) -> int:
    sql = "SELECT COUNT(*) FROM results WHERE run_id = $1 AND status = $2"
    rows = asyncio.run(pg_fetch(url, sql, run_id, status))
    return int(rows[0][0])
