"""Provisioning a fresh database: done once, however many processes start at the same moment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.fakes.databases import BACKENDS
from tests.fakes.server_process import postgres_database, server_env

from aifactory.demo import DEMO_AGENT
from aifactory.errors import ConfigError
from aifactory.service.provisioning import check_database, provision
from aifactory.settings import load_settings
from aifactory.store import agents_repo, keys_repo, migrate
from aifactory.store.database import Database

OPERATOR_KEY = "afk_provisioning-operator-key-0123456789abcdef"
STARTS = 5
# Only a guard against a hang (a lock never granted): a start takes a second or two.
HANG_GUARD_S = 120


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nobody migrated yet: its own PostgreSQL database, or a new SQLite file."""
    if request.param == "postgres":
        with postgres_database(fresh=True) as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"


# One server starting: it waits for the signal to go, so that all of them provision at once.
_START = """
import json, sys, time
from pathlib import Path
from aifactory.service.provisioning import provision_now
from aifactory.settings import load_settings

ready, go = Path(sys.argv[1]), Path(sys.argv[2])
settings = load_settings()
ready.touch()
while not go.exists():
    time.sleep(0.01)
print(json.dumps(provision_now(settings, seed_demo=True, first_key=True)))
"""


def start_at_once(directory: Path, **env: str) -> list[str | None]:
    """What ``STARTS`` processes get from provisioning one database at the same moment."""
    go = directory / "go"
    ready = [directory / f"ready-{n}" for n in range(STARTS)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _START, str(path), str(go)],
            cwd=directory,
            env=server_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in ready
    ]
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not all(path.exists() for path in ready):
            assert all(p.poll() is None for p in processes), "a process died before the start"
            assert time.monotonic() < deadline, "the processes never got ready"
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=HANG_GUARD_S) for p in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


async def count(url: str, table: str) -> int:
    db = Database.from_url(url)
    try:
        async with db.session() as session:
            return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    finally:
        await db.dispose()


async def test_concurrent_starts_leave_one_key_one_demo_agent_and_the_newest_schema(
    fresh_url: str, tmp_path: Path
) -> None:
    made = start_at_once(tmp_path, DATABASE_URL=fresh_url, AIFACTORY_API_KEYS=OPERATOR_KEY)
    # Every start succeeded; with an operator key there is no first key to show.
    assert made == [None] * STARTS
    assert await migrate.current_revision(fresh_url) == migrate.head_revision()
    assert await count(fresh_url, "api_keys") == 1
    assert await count(fresh_url, "agents") == 1
    assert await count(fresh_url, "suites") == 1
    db = Database.from_url(fresh_url)
    try:
        async with db.session() as session:
            key = await keys_repo.verify_key(session, OPERATOR_KEY)
            agents = await agents_repo.list_agents(session)
    finally:
        await db.dispose()
    assert key is not None and key.scopes == ("admin",)
    assert [a.spec.id for a in agents.items] == [DEMO_AGENT["id"]]


async def test_concurrent_starts_without_operator_keys_make_one_first_key(
    fresh_url: str, tmp_path: Path
) -> None:
    made = start_at_once(tmp_path, DATABASE_URL=fresh_url)
    shown = [key for key in made if key is not None]
    assert len(shown) == 1
    assert await count(fresh_url, "api_keys") == 1
    assert await count(fresh_url, "agents") == 1
    db = Database.from_url(fresh_url)
    try:
        async with db.session() as session:
            key = await keys_repo.verify_key(session, shown[0])
    finally:
        await db.dispose()
    assert key is not None and key.scopes == ("admin",)


async def test_a_later_start_keeps_what_the_operator_changed(fresh_url: str) -> None:
    settings = load_settings({"DATABASE_URL": fresh_url, "AIFACTORY_API_KEYS": OPERATOR_KEY})
    db = Database.from_settings(settings)
    try:
        await provision(db, settings, seed_demo=True, first_key=True)
        async with db.write() as session:
            stored = await keys_repo.verify_key(session, OPERATOR_KEY)
            assert stored is not None
            await keys_repo.revoke_key(session, stored.id)
            await agents_repo.delete_agent(session, DEMO_AGENT["id"])
        # A restart: the revoked key stays revoked, the deleted demo agent stays deleted, and
        # with AIFACTORY_API_KEYS set no first key is made although no key works.
        assert await provision(db, settings, seed_demo=True, first_key=True) is None
        async with db.session() as session:
            assert await keys_repo.verify_key(session, OPERATOR_KEY) is None
            assert (await agents_repo.list_agents(session)).total == 0
    finally:
        await db.dispose()
    assert await count(fresh_url, "api_keys") == 1
    assert await count(fresh_url, "suites") == 1


def test_supabase_rest_settings_without_a_database_are_refused_in_one_line() -> None:
    settings = load_settings(
        {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_KEY": "anon-key-value"}
    )
    with pytest.raises(ConfigError) as refused:
        check_database(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("SUPABASE_URL and SUPABASE_KEY are set but no database is")
    assert "Set SUPABASE_DB_URL to the PostgreSQL connection string" in message
    assert "Supabase dashboard → Connect" in message
    assert "anon-key-value" not in message
    only_role = load_settings({"SUPABASE_SERVICE_ROLE_KEY": "service-role"})
    with pytest.raises(ConfigError, match=r"^SUPABASE_SERVICE_ROLE_KEY is set but no database"):
        check_database(only_role)


def test_supabase_rest_settings_beside_a_database_url_are_fine(tmp_path: Path) -> None:
    rest = {"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_KEY": "anon-key-value"}
    url = "postgresql://postgres:pw@db.abc.supabase.co:5432/postgres"
    for variable in ("SUPABASE_DB_URL", "DATABASE_URL"):
        settings = load_settings({**rest, variable: url})
        check_database(settings)
        assert settings.database == url


def test_the_data_directory_holds_the_default_database_and_is_made(tmp_path: Path) -> None:
    data = tmp_path / "data" / "nested"
    settings = load_settings({"AIFACTORY_DATA_DIR": str(data)})
    assert settings.database == f"sqlite+aiosqlite:///{data / 'aifactory.db'}"
    check_database(settings)
    assert data.is_dir()
