"""Figures of the distributed queue: throughput by worker count, recovery time, kill trials.

Runs real processes on this machine: one ``aifactory serve`` (API) and N ``aifactory worker``
processes over Redis (127.0.0.1:6379, database ``AIFACTORY_TEST_REDIS_DB`` or 12, flushed) and a
scratch PostgreSQL database per measurement (dropped afterwards). Prints:

1. cases/s for one batch of ``--cases`` cases on a scripted agent answering in ``--latency-ms``,
   with 1, 2 and 4 workers (``--concurrency`` cases each), next to the in-process mode (the same
   server with no queue URL);
2. the time from a worker's SIGKILL to its claimed cases running again on another worker, with
   ``--lease-s`` leases (goal: lease + 5 s);
3. lost and duplicated cases over ``--trials`` batches, each with a worker killed mid-batch;
4. the time from a cancel to no case of the run still running, over three workers whose agent
   calls would otherwise take an hour.

Uses the process helpers of the distributed-queue tests. Not part of the test suite.

    .venv/bin/python bench/distributed.py [--cases 5000] [--workers 1,2,4] [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from tests.fakes.server_process import running_server  # noqa: E402
from tests.integration.distributed.support import (  # noqa: E402
    create_agent,
    fresh_postgres,
    pg_fetch,
    redis_db,
    rows_per_case,
    run_status,
    service_env,
    start_worker,
    submit,
    wait_for_run,
    workers,
)

REDIS_URL = f"redis://127.0.0.1:6379/{redis_db()}"


def _flush() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()


def throughput(
    directory: Path, n_workers: int, cases: int, latency_ms: int, concurrency: int
) -> float:
    """Cases/s from submission to completion; ``n_workers == 0`` is the in-process mode."""
    _flush()
    with fresh_postgres() as url, ExitStack() as stack:
        env = service_env(url, REDIS_URL, "bench")
        if n_workers == 0:
            env.pop("AIFACTORY_QUEUE_URL")
        api = stack.enter_context(running_server(directory, env, args=("--no-seed-demo",)))
        if n_workers:
            stack.enter_context(workers(directory, env, n_workers, concurrency=concurrency))
            time.sleep(2.0)  # workers started: the figure is the queue's, not Python's start-up
        create_agent(api.url, "bench", latency_ms=latency_ms, max_concurrency=1000)
        started = time.monotonic()
        run_id = submit(api.url, "bench", cases)
        wait_for_run(api.url, run_id, timeout_s=600)
        return cases / (time.monotonic() - started)


def recovery(directory: Path, lease_s: float, latency_ms: int) -> tuple[float, float, int]:
    """Seconds from a worker's death until the first and the last of its cases run again."""
    _flush()
    with fresh_postgres() as url:
        env = service_env(url, REDIS_URL, "bench", AIFACTORY_LEASE_S=str(lease_s))
        with (
            running_server(directory, env, args=("--no-seed-demo",)) as api,
            workers(directory, env, 2, concurrency=16) as started,
        ):
            # Slow enough that the batch outlasts the lease many times over.
            create_agent(api.url, "slow", latency_ms=latency_ms * 20, max_concurrency=1000)
            run_id = submit(api.url, "slow", 4000)
            while run_status(api.url, run_id)["completed"] < 50:
                time.sleep(0.05)
            victim = started[0]
            owner_like = f"%:{victim.process.pid}:%"
            victim.kill()
            killed_at = time.monotonic()
            held = {
                row["id"]
                for row in asyncio.run(
                    pg_fetch(
                        url,
                        "SELECT id FROM results WHERE run_id = $1 AND status = 'running' "
                        "AND lease_owner LIKE $2",
                        run_id,
                        owner_like,
                    )
                )
            }
            first = last = 0.0
            while True:
                rows = asyncio.run(
                    pg_fetch(
                        url,
                        "SELECT id FROM results WHERE id = ANY($1::text[]) AND "
                        "(lease_owner IS NULL OR lease_owner NOT LIKE $2) AND status <> 'pending'",
                        list(held),
                        owner_like,
                    )
                )
                now = time.monotonic() - killed_at
                if rows and not first:
                    first = now
                if len(rows) == len(held):
                    last = now
                    break
                if now > lease_s + 60:
                    raise RuntimeError("the dead worker's cases never ran again")
                time.sleep(0.05)
    return first, last, len(held)


def kill_trials(directory: Path, trials: int, latency_ms: int) -> tuple[int, int, int]:
    """Lost cases, duplicated cases and cases in all, over ``trials`` batches with a kill each."""
    lost = duplicated = total = 0
    rng = random.Random(11)
    _flush()
    with fresh_postgres() as url:
        env = service_env(url, REDIS_URL, "bench")
        with (
            running_server(directory, env, args=("--no-seed-demo",)) as api,
            workers(directory, env, 2, concurrency=32) as started,
        ):
            create_agent(api.url, "trial", latency_ms=latency_ms, max_concurrency=1000)
            for trial in range(trials):
                n = 400
                run_id = submit(api.url, "trial", n)
                while run_status(api.url, run_id)["completed"] < rng.randint(20, 200):
                    time.sleep(0.02)
                victim = rng.choice([w for w in started if w.alive()])
                victim.kill()
                started.append(start_worker(directory, env, concurrency=32))
                wait_for_run(api.url, run_id, timeout_s=120)
                per_case = rows_per_case(url, run_id)
                lost += n - sum(1 for _, statuses in per_case.values() if statuses == {"passed"})
                duplicated += sum(1 for count, _ in per_case.values() if count > 1)
                total += n
                print(f"  trial {trial + 1:2d}: lost {lost}, duplicated {duplicated}", flush=True)
    return lost, duplicated, total


def _running(url: str, run_id: str) -> int:
    sql = "SELECT COUNT(*) FROM results WHERE run_id = $1 AND status = 'running'"
    return int(asyncio.run(pg_fetch(url, sql, run_id))[0][0])


def cancel_latency(directory: Path) -> tuple[float, int]:
    """Seconds from a cancel to none of the run's cases running, and how many ran at the cancel."""
    _flush()
    with fresh_postgres() as url:
        env = service_env(url, REDIS_URL, "bench")
        with (
            running_server(directory, env, args=("--no-seed-demo",)) as api,
            workers(directory, env, 3, concurrency=16),
        ):
            create_agent(api.url, "stuck", latency_ms=3_600_000, max_concurrency=1000)
            run_id = submit(api.url, "stuck", 150)
            deadline = time.monotonic() + 60
            while (in_flight := _running(url, run_id)) < 30:
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers never took the stuck run's cases")
                time.sleep(0.05)
            started = time.monotonic()
            response = httpx.post(f"{api.url}/api/v1/runs/{run_id}/cancel", timeout=30)
            response.raise_for_status()
            while _running(url, run_id):
                if time.monotonic() - started > 60:
                    raise RuntimeError("the cancelled run's cases kept running")
                time.sleep(0.02)
            return time.monotonic() - started, in_flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--lease-s", type=float, default=10.0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--skip", default="", help="comma list of: throughput,recovery,trials,cancel"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    directory = Path(tempfile.mkdtemp(prefix="aifactory-bench-dist-"))
    if "throughput" not in skip:
        print(f"{args.cases} cases, {args.latency_ms} ms agent, {args.concurrency} a process")
        rate = throughput(directory, 0, args.cases, args.latency_ms, args.concurrency)
        print(f"  in-process (serve, no queue URL)  {rate:7.0f} cases/s", flush=True)
        for n in (int(x) for x in args.workers.split(",")):
            rate = throughput(directory, n, args.cases, args.latency_ms, args.concurrency)
            print(f"  redis, {n} worker(s)               {rate:7.0f} cases/s", flush=True)
    if "recovery" not in skip:
        first, last, held = recovery(directory, args.lease_s, args.latency_ms)
        print(
            f"worker SIGKILLed holding {held} cases, lease {args.lease_s:g} s: first ran again "
            f"after {first:.1f} s, all after {last:.1f} s (goal: {args.lease_s + 5:g} s)",
            flush=True,
        )
    if "trials" not in skip:
        print(f"{args.trials} kill trials (400 cases each, a worker SIGKILLed mid-batch):")
        lost, duplicated, total = kill_trials(directory, args.trials, args.latency_ms)
        print(f"  {total} cases: {lost} lost, {duplicated} duplicated")
    if "cancel" not in skip:
        took, in_flight = cancel_latency(directory)
        print(
            f"cancel with {in_flight} cases running on three workers: none running after "
            f"{took:.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
