"""Helpers of the distributed-queue tests: services, worker processes, what the database says.

The tests run real processes: ``aifactory serve`` API replicas (``tests.fakes.server_process``)
and ``aifactory worker`` processes started here, all sharing one PostgreSQL database of the
test's own and one Redis database (``AIFACTORY_TEST_REDIS_DB``, default 12, flushed before and
after) or one RabbitMQ vhost of the test's own. Output goes to files, so a worker killed with
SIGKILL never blocks on a pipe and its log can still be read.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from tests.fakes.server_process import free_port, server_env

from aifactory.store import migrate

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def unavailable(service: str, reason: str) -> NoReturn:
    """Skip (outside CI, with the reason printed) or fail (in CI) for a missing service."""
    message = f"{service} is unreachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the distributed-queue tests.")
    print(f"\nSkipping distributed-queue test: {message}.")
    pytest.skip(f"{message}; start it to run the distributed-queue tests.")


def redis_db() -> int:
    """The Redis database number these tests may flush."""
    return int(os.environ.get("AIFACTORY_TEST_REDIS_DB") or "12")


# -- PostgreSQL --------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(database="postgres", timeout=5, **PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, migrated PostgreSQL database for one test, dropped afterwards.

    Always a database of its own (even in CI): the workers' reconciler acts on every run in
    flight in the database, and another test's leftovers must not become this test's work.
    """
    name = f"aifactory_dist_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", f"{type(exc).__name__}: {exc}")
    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    try:
        asyncio.run(migrate.upgrade(url))
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def pg_fetch(url: str, sql: str, *args: Any) -> list[Any]:
    """Rows of ``sql`` on the test database (asyncpg, ``$1`` parameters)."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def rows_per_case(url: str, run_id: str) -> dict[int, tuple[int, set[str]]]:
    """For each case index of the run: how many result rows, and their statuses."""
    rows = asyncio.run(
        pg_fetch(
            url,
            "SELECT case_index, COUNT(*) AS n, array_agg(DISTINCT status) AS statuses "
            "FROM results WHERE run_id = $1 GROUP BY case_index",
            run_id,
        )
    )
    return {r["case_index"]: (r["n"], set(r["statuses"])) for r in rows}


def assert_each_case_ended_once(url: str, run_id: str, total: int) -> None:
    """Every case has exactly one row, finished (passed), and the run's counters agree."""
    per_case = rows_per_case(url, run_id)
    assert sorted(per_case) == list(range(total)), "some cases have no row"
    duplicated = {i: n for i, (n, _) in per_case.items() if n != 1}
    assert not duplicated, f"cases with more than one row: {list(duplicated.items())[:10]}"
    unfinished = {i: s for i, (_, s) in per_case.items() if s != {"passed"}}
    assert not unfinished, f"cases not passed: {list(unfinished.items())[:10]}"
    run = asyncio.run(
        pg_fetch(url, "SELECT status, completed, passed, total FROM runs WHERE id = $1", run_id)
    )[0]
    assert (run["status"], run["completed"], run["passed"], run["total"]) == (
        "completed",
        total,
        total,
        total,
    )
    count = asyncio.run(
        pg_fetch(
            url,
            "SELECT SUM(c.n) AS results_count FROM agent_result_counts c"
            " JOIN runs r ON r.agent_id = c.agent_id WHERE r.id = $1",
            run_id,
        )
    )[0]["results_count"]
    assert count == total, "the agent's result counter counted a case twice"


# -- processes ---------------------------------------------------------------------------------


def service_env(database_url: str, queue_url: str, queue_name: str, **extra: str) -> dict[str, str]:
    """The environment every API replica and worker of a test shares."""
    variables = {
        "DATABASE_URL": database_url,
        "AIFACTORY_QUEUE_URL": queue_url,
        "AIFACTORY_QUEUE_NAME": queue_name,
        "AIFACTORY_AUTH": "disabled",
        "AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1",
        "AIFACTORY_LEASE_S": "3",
        "AIFACTORY_SHUTDOWN_GRACE_S": "5",
        "LOG_LEVEL": "WARNING",
    }
    return server_env(**{**variables, **extra})


@dataclass
class WorkerProcess:
    """A started ``aifactory worker`` and where its output went."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to release anything."""
        with suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM and wait for the graceful exit (SIGKILL after ``timeout_s``)."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def start_worker(
    directory: Path, env: Mapping[str, str], *, concurrency: int = 32
) -> WorkerProcess:
    """Launch ``python -m aifactory worker`` in ``directory`` with exactly ``env``."""
    log_path = directory / f"worker-{secrets.token_hex(3)}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "aifactory", "worker", "--concurrency", str(concurrency)],
            cwd=directory,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(process, log_path)


@contextmanager
def workers(
    directory: Path, env: Mapping[str, str], n: int, **options: Any
) -> Iterator[list[WorkerProcess]]:
    """``n`` workers, all killed at the end of the block (the list may grow inside it)."""
    started = [start_worker(directory, env, **options) for _ in range(n)]
    try:
        yield started
    finally:
        for worker in started:
            if worker.alive():
                worker.kill()


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own on a free port, keeping nothing on disk."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "the program is not installed")
    server = RedisServer(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class RedisServer:
    """A ``redis-server`` process that a test kills and starts again on the same port."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with (self.directory / f"redis-{self.port}.log").open("ab") as out:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.directory),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the API -----------------------------------------------------------------------------------


def create_agent(api: str, agent_id: str, **spec: Any) -> None:
    """A scripted agent answering "ok" (no rate limit, wide concurrency unless given)."""
    body = {
        "id": agent_id,
        "name": agent_id,
        "kind": "scripted",
        "config": {"default": "ok", "latency_ms": spec.pop("latency_ms", 0)},
        "max_concurrency": spec.pop("max_concurrency", 500),
        "rate_limit_per_minute": spec.pop("rate_limit_per_minute", None),
        **spec,
    }
    response = httpx.post(f"{api}/api/v1/agents", json=body, timeout=30)
    assert response.status_code == 201, response.text


def cases(n: int) -> list[dict[str, Any]]:
    """``n`` cases that pass when the agent answers "ok"."""
    return [
        {"name": f"case {i}", "input": f"q{i}", "checks": [{"type": "contains", "value": "ok"}]}
        for i in range(n)
    ]


def submit(api: str, agent_id: str, n: int) -> str:
    """Submit a batch of ``n`` cases; its run id."""
    response = httpx.post(
        f"{api}/api/v1/test/batch",
        json={"agent_id": agent_id, "test_cases": cases(n)},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def run_status(api: str, run_id: str) -> dict[str, Any]:
    """The run as the API shows it."""
    response = httpx.get(f"{api}/api/v1/runs/{run_id}", timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_run(
    api: str, run_id: str, *, timeout_s: float, until: tuple[str, ...] = ("completed",)
) -> dict[str, Any]:
    """Poll until the run's status is one of ``until``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    run = run_status(api, run_id)
    while run["status"] not in until:
        if time.monotonic() > deadline:
            raise AssertionError(f"run not {until} after {timeout_s} s: {run}")
        time.sleep(0.2)
        run = run_status(api, run_id)
    return run
