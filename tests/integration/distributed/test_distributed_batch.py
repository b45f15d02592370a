"""Batches through real API replicas and ``aifactory worker`` processes over Redis streams.

Every case must end exactly once, counted as result rows per case in PostgreSQL, whatever
happens to the workers.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest
from tests.fakes.server_process import running_server, start_server
from tests.integration.distributed.support import (
    assert_each_case_ended_once,
    create_agent,
    run_status,
    start_worker,
    submit,
    wait_for_run,
    workers,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def test_two_api_replicas_and_three_workers_finish_10000_cases_each_exactly_once(
    workdir: Path, env: dict[str, str], database_url: str
) -> None:
    api_a = start_server(workdir, env, args=("--no-seed-demo",))
    try:
        api_b = start_server(workdir, env, args=("--no-seed-demo",))
        try:
            with workers(workdir, env, 3) as started:
                create_agent(api_a.url, "bulk")
                run_id = submit(api_a.url, "bulk", 10_000)
                # Progress is the same whichever replica answers: the database is the truth.
                done = wait_for_run(api_b.url, run_id, timeout_s=150)
                assert done["completed"] == 10_000
                assert all(w.alive() for w in started)
                health = httpx.get(f"{api_b.url}/health", timeout=10).json()
                # A token sent twice (the reconciler re-sends a stalled run's) may still sit in
                # the stream; the workers ack it without work, and the depth (refreshed every
                # second) drains to zero.
                deadline = time.monotonic() + 20
                while True:
                    metrics = httpx.get(f"{api_a.url}/api/v1/metrics", timeout=10).json()
                    if metrics["queue"]["depth"] == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        finally:
            api_b.stop()
    finally:
        api_a.stop()
    assert_each_case_ended_once(database_url, run_id, 10_000)
    assert health["queue"]["backend"] == "redis"
    assert health["queue"]["broker"] == "ok"
    assert metrics["queue"]["workers"] == 3
    assert metrics["queue"]["depth"] == 0


def test_workers_killed_mid_batch_again_and_again_lose_and_duplicate_nothing(
    workdir: Path, env: dict[str, str], database_url: str
) -> None:
    kills = 0
    with (
        running_server(workdir, env, args=("--no-seed-demo",)) as api,
        workers(workdir, env, 3) as started,
    ):
        create_agent(api.url, "fragile", latency_ms=10)
        run_id = submit(api.url, "fragile", 3000)
        rng = random.Random(7)
        deadline = time.monotonic() + 90  # only guards against a hang
        while kills < 6:
            # A kill each time another 400 cases are done, whatever the machine's speed.
            while (progress := run_status(api.url, run_id))["completed"] < 400 * (kills + 1):
                if progress["status"] == "completed":
                    break
                assert time.monotonic() < deadline, progress
                time.sleep(0.05)
            if progress["status"] == "completed":
                break
            victim = rng.choice([w for w in started if w.alive()])
            victim.kill()
            kills += 1
            started.append(start_worker(workdir, env))
        done = wait_for_run(api.url, run_id, timeout_s=90)
    assert kills >= 5, "the batch finished before five workers were killed; make it longer"
    assert done["completed"] == 3000
    assert_each_case_ended_once(database_url, run_id, 3000)


def test_a_run_whose_agent_is_deleted_while_workers_run_it_fails_and_says_why(
    workdir: Path, env: dict[str, str]
) -> None:
    with (
        running_server(workdir, env, args=("--no-seed-demo",)) as api,
        workers(workdir, env, 1, concurrency=2),
    ):
        # Fewer cases than one token claims: a worker holds them all before the agent is gone.
        create_agent(api.url, "going", latency_ms=100, max_concurrency=2)
        run_id = submit(api.url, "going", 40)
        deadline = time.monotonic() + 60
        while run_status(api.url, run_id)["completed"] == 0:
            assert time.monotonic() < deadline, "no case finished within 60 s"
            time.sleep(0.1)
        assert httpx.delete(f"{api.url}/api/v1/agents/going", timeout=30).status_code == 204
        done = wait_for_run(api.url, run_id, timeout_s=60, until=("completed", "failed"))
    assert done["status"] == "failed"
    assert "was deleted while the run was in progress" in done["error"]
    assert 0 < done["completed"] < 40
    assert done["summary"]["stopped_reason"] == "error"
