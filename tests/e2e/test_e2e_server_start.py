"""How ``aifactory serve`` starts: the loopback rule without auth, and the first admin key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.fakes.gunicorn_process import ROOT
from tests.fakes.server_process import (
    free_port,
    is_listening,
    running_server,
    server_env,
    start_server,
)

_KEY = re.compile(r"afk_[A-Za-z0-9_-]{20,}")


def test_auth_disabled_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    env = server_env(DATABASE_URL=f"sqlite+aiosqlite:///{database}", AIFACTORY_AUTH="disabled")
    port = free_port()
    server = start_server(tmp_path, env, host="0.0.0.0", port=port, wait=False)
    try:
        returncode = server.process.wait(timeout=60)  # it exits by itself; this guards a hang
    finally:
        server.stop(timeout_s=1)
    assert returncode == 2
    message = " ".join(server.stderr.split())
    assert "AIFACTORY_AUTH=disabled is only allowed on a loopback address" in message
    assert "0.0.0.0" in message
    # It stopped before doing anything: no socket, no database.
    assert not is_listening(port)
    assert not database.exists()


@pytest.mark.slow
def test_auth_disabled_on_loopback_serves_without_a_key(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'open.db'}", AIFACTORY_AUTH="disabled"
    )
    with running_server(tmp_path, env) as server:
        agents = httpx.get(f"{server.url}/api/v1/agents", timeout=10)
        output = server.output()
    assert agents.status_code == 200, agents.text
    assert [a["id"] for a in agents.json()["items"]] == ["demo-support-bot"]
    # Nothing to authenticate with, so no key is made either.
    assert _KEY.findall(output) == []


@pytest.mark.slow
def test_first_start_prints_one_working_admin_key_and_the_second_none(tmp_path: Path) -> None:
    env = server_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    with running_server(tmp_path, env) as first:
        printed = _KEY.findall(first.stdout)
        assert len(printed) == 1, first.stdout
        key = printed[0]
        with httpx.Client(base_url=first.url, timeout=10) as client:
            assert client.get("/api/v1/agents").status_code == 401
            keys = client.get("/api/v1/keys", headers={"Authorization": f"Bearer {key}"})
            assert keys.status_code == 200, keys.text
            assert [k["scopes"] for k in keys.json()["items"]] == [["admin"]]
    assert "first admin API key" in first.stdout

    with running_server(tmp_path, env) as second:
        again = httpx.get(
            f"{second.url}/api/v1/agents", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        output = second.output()
    assert again.status_code == 200
    assert _KEY.findall(output) == []
    assert "first admin API key" not in output


def _refused_start(tmp_path: Path, host: str, **variables: str) -> tuple[int, str, Path]:
    database = tmp_path / "never.db"
    env = server_env(DATABASE_URL=f"sqlite+aiosqlite:///{database}", **variables)
    port = free_port()
    server = start_server(tmp_path, env, host=host, port=port, wait=False)
    try:
        returncode = server.process.wait(timeout=30)
    finally:
        server.stop(timeout_s=1)
    assert not is_listening(port)
    return returncode, server.stderr, database


def test_a_public_bind_requiring_keys_needs_the_session_secret(tmp_path: Path) -> None:
    returncode, stderr, database = _refused_start(
        tmp_path, "0.0.0.0", AIFACTORY_API_KEYS="afk_e2e-start-admin-key-0123456789abcdefghij"
    )
    assert returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "AIFACTORY_SESSION_SECRET is not set" in lines[0]
    assert "0.0.0.0" in lines[0]
    assert not database.exists()


def test_a_short_operator_key_refuses_the_start_without_showing_it(tmp_path: Path) -> None:
    returncode, stderr, database = _refused_start(
        tmp_path, "127.0.0.1", AIFACTORY_API_KEYS="hunter2"
    )
    assert returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "AIFACTORY_API_KEYS: key number 1 is 7 characters long" in lines[0]
    assert "hunter2" not in stderr
    assert not database.exists()


def test_uvicorn_main_app_on_a_public_address_needs_the_session_secret(tmp_path: Path) -> None:
    # The original start command, run by hand: the app reads uvicorn's --host itself.
    database = tmp_path / "never.db"
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        AIFACTORY_API_KEYS="afk_e2e-start-admin-key-0123456789abcdefghij",
    )
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "main:app", "--host", "0.0.0.0", "--port"]
    finished = subprocess.run(
        [*command, str(port)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert "AIFACTORY_SESSION_SECRET is not set" in lines[0]
    assert not is_listening(port)
    assert not database.exists()
