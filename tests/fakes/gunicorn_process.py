"""The production server in a subprocess: ``gunicorn -c gunicorn.conf.py`` on a free loopback port.

Built on :mod:`tests.fakes.server_process`: the same clean environment, output files and
process-group stop, with gunicorn and the repository's own configuration instead of
``aifactory serve``. Nothing but environment variables is passed, as on Railway. :func:`launch`
and :func:`running` start any other server module the same way (``uvicorn main:app``).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fakes.prerequisites import require_extra
from tests.fakes.server_process import ServerProcess, free_port, server_env

ROOT = Path(__file__).resolve().parents[2]
SESSION_SECRET = "5e8a1c3f7b9d0e2a4c6e8f0b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"


def gunicorn_env(directory: Path, *, workers: int = 2, **variables: str) -> dict[str, str]:
    """A clean environment for gunicorn: a SQLite file in ``directory``, the metrics there too.

    A session secret is set, as a deployment must (pass ``AIFACTORY_SESSION_SECRET=""`` for the
    loopback development default, a secret made in the cache directory).
    """
    return server_env(
        **{
            "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'gunicorn.db'}",
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
            "GUNICORN_WORKERS": str(workers),
            "LOG_LEVEL": "WARNING",
            "AIFACTORY_SESSION_SECRET": SESSION_SECRET,
            **variables,
        }
    )


def launch(
    command: Sequence[str],
    directory: Path,
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    user: int | None = None,
) -> ServerProcess:
    """Start ``python -m <command>`` listening on a free loopback port; do not wait for it.

    ``SERVER_HOST`` is always 127.0.0.1 and ``SERVER_PORT`` the port (``{port}`` in ``command``
    is replaced by it too, for servers that take it as an argument). Output goes to files in
    ``directory``; the working directory is ``cwd`` (default ``directory``); ``user`` runs it as
    that uid and gid (only root may).
    """
    port = free_port()
    stamp = f"{port}-{secrets.token_hex(3)}"
    stdout_path = directory / f"{command[0]}-{stamp}.out"
    stderr_path = directory / f"{command[0]}-{stamp}.err"
    full_env = {**env, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(port)}
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user, "group": user, "extra_groups": []}
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", *(part.replace("{port}", str(port)) for part in command)],
            cwd=cwd or directory,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            **as_user,
        )
    return ServerProcess(process, port, "127.0.0.1", stdout_path, stderr_path)


@contextmanager
def running(
    command: Sequence[str],
    directory: Path,
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    user: int | None = None,
    timeout_s: float = 60.0,
) -> Iterator[ServerProcess]:
    """:func:`launch`, wait until ``/health`` answers, stop its process group after."""
    server = launch(command, directory, env, cwd=cwd, user=user)
    try:
        server.wait_ready(timeout_s)
        yield server
    finally:
        server.stop()


@contextmanager
def running_gunicorn(
    directory: Path,
    env: Mapping[str, str],
    *,
    app: str | None = None,
    cwd: Path | None = None,
    timeout_s: float = 60.0,
) -> Iterator[ServerProcess]:
    """Start gunicorn with the repository's conf in ``directory``; stop its process group after.

    ``SERVER_HOST`` is always 127.0.0.1 and ``SERVER_PORT`` a free port: tests never listen on
    anything else. ``app`` names the app on the command line (``main:app``, the original's start
    command) instead of the conf's ``wsgi_app``. Without the ``deploy`` extra the test is
    skipped, or fails in CI.
    """
    require_extra("deploy", "gunicorn", "uvicorn_worker")
    command = ["gunicorn", *([app] if app else []), "-c", str(GUNICORN_CONF)]
    with running(command, directory, env, cwd=cwd, timeout_s=timeout_s) as server:
        yield server
