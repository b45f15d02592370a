"""The real server in a subprocess: ``aifactory serve`` on a free loopback port.

``start_server`` launches ``python -m aifactory serve`` with a clean environment (nothing from
the developer's shell leaks in: no keys, no database URL, no ``.env`` since the working
directory is the test's own), waits until ``/health`` answers, and hands back a
:class:`ServerProcess`. Its output goes to files rather than pipes, so a chatty server never
blocks on a full pipe and a test can read everything it printed, even after a SIGKILL.
``running_server`` is the same as a context manager that always kills the server afterwards.

``postgres_database`` gives a test its own PostgreSQL database on the local server (or the one
named by ``AIFACTORY_TEST_PG_DB``), following the same skip-or-fail rule as the store tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"

# Variables that would change what the server does if they leaked in from the caller's shell.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def server_env(**variables: str) -> dict[str, str]:
    """A minimal environment for the server plus ``variables`` (``DATABASE_URL``, keys, …)."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    # Rich wraps long lines at 80 columns, which would split a printed key over two lines.
    env["COLUMNS"] = "250"
    env.update(variables)
    return env


@dataclass
class ServerProcess:
    """A started ``aifactory serve`` and where its output went."""

    process: subprocess.Popen[bytes]
    port: int
    host: str
    stdout_path: Path
    stderr_path: Path
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        """Everything the server printed so far, stdout then stderr."""
        return self.stdout + self.stderr

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll ``/health`` until it answers 200; fail with the server's output otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(
                    f"The server exited with {self.process.returncode} before it was ready.\n"
                    f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(
            f"The server did not answer /health within {timeout_s} s.\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn's worker processes too), then reap it."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, wait for a graceful exit, SIGKILL when it takes too long."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        else:
            # The leader is gone; make sure no orphaned worker of its group lingers.
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def start_server(
    directory: Path,
    env: Mapping[str, str],
    *,
    args: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    port: int | None = None,
    wait: bool = True,
    timeout_s: float = 60.0,
) -> ServerProcess:
    """Launch ``python -m aifactory serve`` in ``directory`` with exactly ``env``.

    Args:
        directory: Working directory; the output files are written here too.
        env: The whole environment of the server (see :func:`server_env`).
        args: Extra ``serve`` arguments (``--workers 2``).
        host: ``--host``; tests only ever bind loopback or ask for a refused bind.
        port: ``--port``; a free one by default.
        wait: Wait until ``/health`` answers.
        timeout_s: How long to wait for it.
    """
    port = port or free_port()
    stamp = f"{port}-{secrets.token_hex(3)}"
    stdout_path = directory / f"server-{stamp}.out"
    stderr_path = directory / f"server-{stamp}.err"
    command = [sys.executable, "-m", "aifactory", "serve", "--host", host, "--port", str(port)]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*command, *args],
            cwd=directory,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            # Its own process group, so kill() reaches the worker processes as well.
            start_new_session=True,
        )
    server = ServerProcess(process, port, host, stdout_path, stderr_path)
    if wait:
        try:
            server.wait_ready(timeout_s)
        except BaseException:
            server.stop(timeout_s=2)
            raise
    return server


@contextmanager
def running_server(
    directory: Path,
    env: Mapping[str, str],
    *,
    args: tuple[str, ...] = (),
    timeout_s: float = 60.0,
) -> Iterator[ServerProcess]:
    """:func:`start_server`, stopped (and killed if need be) when the block ends."""
    server = start_server(directory, env, args=args, timeout_s=timeout_s)
    try:
        yield server
    finally:
        server.stop()


def pg_url(dbname: str) -> str:
    """The SQLAlchemy URL of a database on the local test server."""
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_database(*, fresh: bool = False) -> Iterator[str]:
    """The URL of a PostgreSQL database for one test.

    ``AIFACTORY_TEST_PG_DB`` names an existing database to use as it is (unless ``fresh``);
    otherwise a uniquely named one is created and dropped afterwards. An unreachable server
    skips the test outside CI and fails it when ``CI`` is set.
    """
    name = "" if fresh else os.environ.get("AIFACTORY_TEST_PG_DB") or ""
    created = False
    if not name:
        name = f"aifactory_e2e_{os.getpid()}_{secrets.token_hex(4)}"
        try:
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            message = (
                f"PostgreSQL on {PG_HOST}:{PG_PORT} is unreachable ({type(exc).__name__}: {exc})"
            )
            if os.environ.get("CI"):
                pytest.fail(f"{message}; CI must run the PostgreSQL tests.")
            pytest.skip(f"{message}; start it to run the PostgreSQL tests.")
        created = True
    try:
        yield pg_url(name)
    finally:
        if created:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
