"""What a database needs before a server uses it, done once whatever the number of processes.

Every entry point that serves the API provisions the database first: gunicorn's master in
``on_starting``, ``aifactory serve``, and the app's lifespan when no parent process did it (as
under ``uvicorn main:app``, in each worker). Several processes, or several replicas of the
service, may do so at the same moment on one database; :func:`provision` makes them take turns.
It works in one transaction on one connection of its own, which first takes a database-wide lock:

- PostgreSQL: the schema's advisory lock (``pg_advisory_xact_lock``, shared with
  ``aifactory db upgrade``), held until the transaction ends, released by the server when the
  process dies, and safe behind a transaction pooler (a session-level lock would not be);
- SQLite: ``BEGIN IMMEDIATE``, the file's write lock; another process waits its busy timeout.

Inside, every step is idempotent, so the first process does the work and the others find it done:
migrate to the newest revision; store the keys of ``AIFACTORY_API_KEYS`` unless stored; seed the
demo agent and suite into a database without agents (when asked); make a first admin key when
API keys are required and none exists (when asked; its plaintext is returned, to be shown once).
A start that fails half-way commits nothing.

:func:`check_database` says in one sentence what in the settings cannot give a usable database,
before anything is tried: Supabase's REST settings without a database URL, or a SQLite file in a
place this user cannot write.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from aifactory.demo import DEMO_AGENT, DEMO_SUITE
from aifactory.domain.models import AgentSpec, TestCase
from aifactory.errors import ConfigError, Conflict
from aifactory.settings import Settings
from aifactory.store import agents_repo, keys_repo, migrate, suites_repo
from aifactory.store.database import SQLITE_BEGIN_OPTION, Database, normalize_url

FIRST_KEY_NAME = "first admin"
_SUPABASE_REST = (
    ("SUPABASE_URL", "supabase_url"),
    ("SUPABASE_KEY", "supabase_key"),
    ("SUPABASE_SERVICE_ROLE_KEY", "supabase_service_role_key"),
)


def check_database(settings: Settings) -> None:
    """Refuse settings that cannot give a usable database, in one line that says what to do.

    Makes the directory of a SQLite file when it is missing.

    Raises:
        ConfigError: Supabase REST settings without ``SUPABASE_DB_URL`` or ``DATABASE_URL``; a
            SQLite file this user cannot create or write; a malformed database URL.
    """
    rest = [name for name, field in _SUPABASE_REST if getattr(settings, field)]
    if rest and settings.database_defaulted:
        named = rest[0] if len(rest) == 1 else f"{', '.join(rest[:-1])} and {rest[-1]}"
        raise ConfigError(
            f"{named} {'is' if len(rest) == 1 else 'are'} set but no database is: "
            "Supabase's REST address and keys cannot be used as a database. Set SUPABASE_DB_URL "
            "to the PostgreSQL connection string (Supabase dashboard → Connect), or DATABASE_URL."
        )
    problem = sqlite_problem(settings.database)
    if problem is not None:
        raise ConfigError(problem)


def sqlite_problem(url: str) -> str | None:
    """Why this process cannot keep the SQLite database of ``url``, or None (also for PostgreSQL).

    SQLite writes its journal beside the file, so the directory must take new files too: a file
    is made there and removed to find out (permission bits do not tell for root, a read-only
    mount or an immutable directory).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).absolute()
    directory = path.parent
    verb = "written" if path.exists() else "created"
    fix = (
        "Set AIFACTORY_DATA_DIR to a writable directory (in the Docker image, mount a volume at "
        "/app/data), or DATABASE_URL to another database."
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return (
            f"The SQLite database {path} cannot be created: its directory cannot be made "
            f"({exc.strerror or exc}). {fix}"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".aifactory-write-check-", dir=directory)
    except OSError as exc:
        return (
            f"The SQLite database {path} cannot be {verb}: the directory {directory} is not "
            f"writable by this user (uid {os.getuid()}: {exc.strerror or exc}). {fix}"
        )
    os.close(fd)
    os.unlink(probe)
    if path.exists():
        try:
            with path.open("r+b"):
                pass
        except OSError as exc:
            return (
                f"The SQLite database {path} cannot be written: the file is not writable by this "
                f"user (uid {os.getuid()}: {exc.strerror or exc}). {fix}"
            )
    return None


async def provision(
    database: Database | AsyncEngine,
    settings: Settings,
    *,
    seed_demo: bool = False,
    first_key: bool = False,
) -> str | None:
    """Migrate, store the operator keys, seed the demo, make a first key; once, under a lock.

    Args:
        database: the database to provision (or its async engine).
        settings: ``AIFACTORY_API_KEYS`` and ``AIFACTORY_AUTH`` are read.
        seed_demo: seed the demo agent and suite when the database has no agent.
        first_key: make an admin key when keys are required and none is stored.

    Returns:
        The first admin key's plaintext when this call made it (to be shown once), else None.

    Raises:
        ConfigError: an operator key the store refuses.
    """
    engine = database.engine if isinstance(database, Database) else database
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        async with conn.begin():
            return await _provision(conn, settings, seed_demo=seed_demo, first_key=first_key)


async def _provision(
    conn: AsyncConnection, settings: Settings, *, seed_demo: bool, first_key: bool
) -> str | None:
    # Every step runs after the lock is taken, so it sees all that an earlier holder did.
    await migrate.hold_lock(conn)
    await migrate.upgrade_connection(conn)
    async with AsyncSession(bind=conn, expire_on_commit=False) as session:
        await store_operator_keys(session, settings)
        if seed_demo:
            await seed_demo_data(session)
        plaintext = None
        if first_key and settings.auth == "required" and not settings.api_keys:
            keys = await keys_repo.list_keys(session, include_revoked=False, limit=1)
            if keys.total == 0:
                _, plaintext = await keys_repo.create_key(session, FIRST_KEY_NAME, ["admin"])
        await session.flush()
    return plaintext


async def store_operator_keys(session: AsyncSession, settings: Settings) -> int:
    """Store the keys of ``AIFACTORY_API_KEYS`` (admin scope) unless stored; returns how many.

    Raises:
        ConfigError: a key the store refuses.
    """
    count = 0
    for index, plaintext in enumerate(k.strip() for k in (settings.api_keys or "").split(",")):
        if plaintext:
            try:
                await keys_repo.ensure_key(
                    session, plaintext, name=f"bootstrap-{index + 1}", scopes=("admin",)
                )
            except ValueError as exc:
                raise ConfigError(f"AIFACTORY_API_KEYS: {exc}") from exc
            count += 1
    return count


async def seed_demo_data(session: AsyncSession) -> bool:
    """Store the demo agent and suite when the database has no agent; returns whether it did.

    A demo agent that was deleted stays deleted (its id is kept by its results).
    """
    if (await agents_repo.list_agents(session, limit=1)).total:
        return False
    try:
        await agents_repo.create_agent(session, AgentSpec.model_validate(DEMO_AGENT))
    except Conflict:
        return False
    if (await suites_repo.list_suites(session, limit=1)).total == 0:
        await suites_repo.create_suite(
            session,
            id=DEMO_SUITE["id"],
            name=DEMO_SUITE["name"],
            description=DEMO_SUITE["description"],
            cases=[TestCase.model_validate(c) for c in DEMO_SUITE["test_cases"]],
        )
    return True


def provision_now(settings: Settings, *, seed_demo: bool, first_key: bool) -> str | None:
    """:func:`check_database`, then :func:`provision` on a connection of its own (no loop runs).

    For a parent process (gunicorn's master, ``aifactory serve``) before it starts servers.

    Raises:
        ConfigError: see :func:`check_database` and :func:`provision`.
    """
    check_database(settings)

    async def run() -> str | None:
        db = Database.from_settings(settings)
        try:
            return await provision(db, settings, seed_demo=seed_demo, first_key=first_key)
        finally:
            await db.dispose()

    return asyncio.run(run())


def first_key_notice(plaintext: str) -> str:
    """What a server prints, once, about the first admin key it made."""
    return (
        "A first admin API key was created. It is shown only this once:\n"
        f"    {plaintext}\n"
        "Use it as 'Authorization: Bearer <key>'; set AIFACTORY_API_KEYS in production."
    )
