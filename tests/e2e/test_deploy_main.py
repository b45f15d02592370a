"""The original's commands, run from the repository root: gunicorn main:app and uvicorn main:app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.fakes.gunicorn_process import ROOT, gunicorn_env, running, running_gunicorn
from tests.fakes.server_process import server_env

KEY = "afk_e2e-main-app-admin-key-0123456789abcdefghij"
_KEY = re.compile(r"afk_[A-Za-z0-9_-]{20,}")
# A database no refused start may make (relative to the repository root, where they run).
NEVER = ROOT / "never-made-by-a-refused-start.db"
NEVER_URL = f"sqlite+aiosqlite:///{NEVER}"


def authenticated_status(url: str, key: str) -> int:
    response = httpx.get(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


@pytest.mark.slow
def test_gunicorn_main_app_with_the_conf_serves_from_the_repository_root(tmp_path: Path) -> None:
    # Railway's start command of the original deployment, run where it was run.
    env = gunicorn_env(tmp_path, workers=2, AIFACTORY_API_KEYS=KEY, AIFACTORY_SEED_DEMO="1")
    with running_gunicorn(tmp_path, env, app="main:app", cwd=ROOT) as server:
        health = httpx.get(f"{server.url}/health", timeout=10)
        status = authenticated_status(server.url, KEY)
        agents = httpx.get(
            f"{server.url}/api/v1/agents", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
    assert health.status_code == 200
    assert health.json()["database"] == "ok"
    assert status == 200
    assert [agent["id"] for agent in agents.json()["items"]] == ["demo-support-bot"]
    assert "No module named" not in server.output()


@pytest.mark.slow
def test_uvicorn_main_app_provisions_a_fresh_database_and_shows_one_first_key(
    tmp_path: Path,
) -> None:
    # Nothing provisions the database before uvicorn's two workers do, each under the lock.
    env = {**gunicorn_env(tmp_path), "AIFACTORY_CACHE_DIR": str(tmp_path / "cache")}
    del env["PROMETHEUS_MULTIPROC_DIR"]
    command = ["uvicorn", "main:app", "--host", "127.0.0.1", "--port", "{port}", "--workers", "2"]
    with running(command, tmp_path, env, cwd=ROOT) as server:
        printed = _KEY.findall(server.stdout)
        assert len(printed) == 1, server.output()
        health = httpx.get(f"{server.url}/health", timeout=10)
        status = authenticated_status(server.url, printed[0])
        anonymous = httpx.get(f"{server.url}/api/v1/keys", timeout=10)
    assert health.status_code == 200
    assert status == 200
    assert anonymous.status_code == 401
    assert "first admin API key" in server.stdout


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_KEY": "anon-key-value"},
            "Set SUPABASE_DB_URL to the PostgreSQL connection string",
        ),
        (
            {"DATABASE_URL": NEVER_URL, "AIFACTORY_API_KEYS": "anon-key-value"},
            "AIFACTORY_API_KEYS: key number 1 is",
        ),
    ],
    ids=["supabase REST settings alone", "a short operator key"],
)
def test_uvicorn_main_app_refuses_bad_settings_in_one_line(
    tmp_path: Path, variables: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "main:app", "--port", "1"],
        cwd=ROOT,
        env=server_env(AIFACTORY_CACHE_DIR=str(tmp_path / "cache"), **variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr
    assert "anon-key-value" not in result.stdout + result.stderr
    assert not NEVER.exists()
