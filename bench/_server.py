"""Start and stop real servers for the HTTP benchmarks (shared by the ``bench/api_*.py`` scripts).

:func:`aifactory_server` runs ``aifactory serve --workers N`` on a free loopback port with a fresh
database (a temporary SQLite file, or a scratch PostgreSQL database on 127.0.0.1:5432 that is
dropped afterwards) and one admin key through ``AIFACTORY_API_KEYS``; :func:`bare_server` serves
``bench/bare_app.py`` through uvicorn the same way. Both wait for ``/health`` and stop the process
group they started. Not part of the test suite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: where it listens, the key to call it with, its database."""

    base_url: str
    api_key: str
    database_url: str
    pid: int

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for ``/api/v1``."""
        return {"Authorization": f"Bearer {self.api_key}"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_health(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; raise when the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited ({process.returncode}) before it was up.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"The server did not answer {url} within {timeout_s:.0f} s.")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started (uvicorn's supervisor and its workers), then wait."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _launch(
    argv: list[str], env: dict[str, str], log: Path, health_url: str
) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_health(health_url, process)
    except BaseException:
        _stop(process)
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    return process


def _admin_sql(sql: str) -> None:
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def scratch_postgres(prefix: str = "aifactory_bench") -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database; yields ``(sqlalchemy_url, name)`` and drops it afterwards."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", name
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def aifactory_server(
    *,
    workers: int = 2,
    seed_demo: bool = False,
    postgres: bool = False,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``aifactory serve`` on a free port with a fresh database until the block ends.

    Args:
        workers: uvicorn worker processes.
        seed_demo: seed the demo agent ``demo-support-bot`` and suite ``demo-support``.
        postgres: use a scratch PostgreSQL database instead of a temporary SQLite file.
        database_url: use this database as it is (neither created nor dropped here).
        env: extra environment for the server (``AIFACTORY_RATE_LIMIT_PER_MINUTE``, ...).
    """
    workdir = Path(tempfile.mkdtemp(prefix="aifactory-bench-"))
    stack = contextlib.ExitStack()
    try:
        if database_url is None:
            if postgres:
                database_url, _ = stack.enter_context(scratch_postgres())
            else:
                database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        port = free_port()
        api_key = "afk_" + secrets.token_urlsafe(32)
        child_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "AIFACTORY_API_KEYS": api_key,
            "LOG_LEVEL": "WARNING",
            "AIFACTORY_CACHE_DIR": str(workdir / "cache"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            **(env or {}),
        }
        argv = [
            str(BIN / "aifactory"),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--seed-demo" if seed_demo else "--no-seed-demo",
        ]
        base_url = f"http://{HOST}:{port}"
        process = _launch(argv, child_env, workdir / "server.log", f"{base_url}/health")
        try:
            yield Server(base_url, api_key, database_url, process.pid)
        finally:
            if process.poll() is not None:
                log = (workdir / "server.log").read_text(errors="replace")
                print(
                    f"The server exited ({process.returncode}) early; its log ends:\n{log[-3000:]}"
                )
            _stop(process)
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def bare_server(
    *, workers: int = 2, env: dict[str, str] | None = None, app: str = "bare_app:app"
) -> Iterator[Server]:
    """Serve ``bench/bare_app.py`` (or another ``module:app`` of ``bench/``, with a ``/health``
    route) with uvicorn like ``aifactory serve``."""
    workdir = Path(tempfile.mkdtemp(prefix="aifactory-bare-"))
    port = free_port()
    argv = [
        str(BIN / "uvicorn"),
        app,
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--proxy-headers",
    ]
    base_url = f"http://{HOST}:{port}"
    try:
        child_env = {**os.environ, **(env or {})}
        process = _launch(argv, child_env, workdir / "server.log", f"{base_url}/health")
        try:
            yield Server(base_url, "", "", process.pid)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` and its live descendants (from /proc)."""
    ticks = 0
    for current in descendants(pid):
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot, all cores (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
