"""The one migration chain builds exactly the schema the tables describe, and takes it down."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from tests.fakes.review_data import planted_results

from aifactory.domain.review import uncertainty
from aifactory.store import migrate
from aifactory.store._bulk import case_to_json
from aifactory.store.database import create_engine_for
from aifactory.store.tables import Base, utcnow

pytest_plugins = ["tests.fakes.databases"]


def _schema_diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


async def test_upgrade_matches_tables_and_downgrade_removes_everything(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
    finally:
        # Leave the (shared) database as the other tests expect it.
        await migrate.upgrade(engine)
        await engine.dispose()

    engine = create_engine_for(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(database_url: str) -> None:
    await migrate.upgrade(database_url)
    await migrate.upgrade(database_url)
    assert await migrate.current_revision(database_url) == migrate.head_revision()


async def test_operator_keys_stored_in_plaintext_get_a_fingerprint(database_url: str) -> None:
    """Rows from before 0003 kept an operator key's first 12 characters; 'hunter2' entirely."""
    short, long_ = "hunter2", "operator-key-0123456789abcdefghijklmnop"
    generated = "afk_" + "Zx9-_abcdefghijklmnopqrstuvwxyz0123456789ABC"
    rows = [
        ("k1", "bootstrap-1", short[:12], hashlib.sha256(short.encode()).hexdigest()),
        ("k2", "bootstrap-2", long_[:12], hashlib.sha256(long_.encode()).hexdigest()),
        ("k3", "first admin", generated[:12], hashlib.sha256(generated.encode()).hexdigest()),
    ]
    engine = create_engine_for(database_url)
    try:
        await migrate.downgrade(engine, "0002_reflections")
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM api_keys"))
            for key_id, name, prefix, key_hash in rows:
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at) "
                        "VALUES (:id, :name, :prefix, :hash, 'admin', CURRENT_TIMESTAMP)"
                    ),
                    {"id": key_id, "name": name, "prefix": prefix, "hash": key_hash},
                )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            found = dict((await conn.execute(text("SELECT id, prefix FROM api_keys"))).all())
            await conn.execute(text("DELETE FROM api_keys"))
            await conn.commit()
    finally:
        await migrate.upgrade(engine)
        await engine.dispose()
    assert found == {
        "k1": "sha256:" + rows[0][3][:8],
        "k2": "sha256:" + rows[1][3][:8],
        # A generated key's prefix is 'afk_' and 8 of its 43 random characters: it stays.
        "k3": generated[:12],
    }
    assert short not in str(found) and long_[:6] not in str(found)


async def test_results_from_before_0006_get_their_uncertain_flag(database_url: str) -> None:
    """The upgrade back-fills ``judge_uncertain`` as the domain's rule decides it."""
    planted = planted_results(300, seed=11)
    now = utcnow()
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    results = sa.table(
        "results",
        *(sa.column(name) for name in ("id", "run_id", "agent_id", "agent_version", "tags")),
        *(sa.column(name) for name in ("case_index", "repeat_index", "status", "passed")),
        *(sa.column(name) for name in ("score", "cached", "attempts", "created_at")),
        sa.column("finished_at"),
        sa.column("test_case", json_type),
        sa.column("checks", json_type),
    )
    rows = [
        {
            "id": f"planted-{i:04d}",
            "run_id": "planted-run",
            "agent_id": "planted-bot",
            "agent_version": 1,
            "tags": "",
            "case_index": i,
            "repeat_index": 0,
            "status": r.status,
            "passed": r.passed,
            "score": r.score,
            "cached": False,
            "attempts": 1,
            "created_at": now,
            # One row written but never finished: the back-fill leaves it alone.
            "finished_at": now if i else None,
            "test_case": case_to_json(r.test_case),
            "checks": [c.model_dump(mode="json", exclude_none=True) for c in r.checks],
        }
        for i, r in enumerate(planted)
    ]
    engine = create_engine_for(database_url)
    try:
        await migrate.downgrade(engine, "0005_conversations")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (id, name, current_version, results_count, created_at,"
                    " updated_at) VALUES ('planted-bot', 'planted-bot', 1, 0, :t, :t)"
                ),
                {"t": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO runs (id, agent_id, agent_version, status, total, completed,"
                    " passed, failed, errored, cancelled, repeat, metadata, created_at) VALUES"
                    " ('planted-run', 'planted-bot', 1, 'completed', 0, 0, 0, 0, 0, 0, 1, '{}',"
                    " :t)"
                ),
                {"t": now},
            )
            await conn.execute(results.insert(), rows)
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            flags = dict(
                (
                    await conn.execute(
                        text("SELECT id, judge_uncertain FROM results WHERE run_id = 'planted-run'")
                    )
                ).all()
            )
            await conn.execute(text("DELETE FROM results WHERE run_id = 'planted-run'"))
            await conn.execute(text("DELETE FROM runs WHERE id = 'planted-run'"))
            await conn.execute(text("DELETE FROM agents WHERE id = 'planted-bot'"))
    finally:
        await migrate.upgrade(engine)
        await engine.dispose()
    expected = {
        row["id"]: row["finished_at"] is not None and uncertainty(result) is not None
        for row, result in zip(rows, planted, strict=True)
    }
    assert {k: bool(v) for k, v in flags.items()} == expected
    assert 60 < sum(expected.values()) < 240


async def test_agent_counts_move_to_their_rows_and_back(database_url: str) -> None:
    now = utcnow()
    engine = create_engine_for(database_url)
    try:
        await migrate.downgrade(engine, "0006_judge_uncertain")
        async with engine.begin() as conn:
            for agent_id, count in (("counted-bot", 42), ("idle-bot", 0)):
                await conn.execute(
                    text(
                        "INSERT INTO agents (id, name, current_version, results_count, created_at,"
                        " updated_at) VALUES (:a, :a, 1, :n, :t, :t)"
                    ),
                    {"a": agent_id, "n": count, "t": now},
                )
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            rows = await conn.execute(
                text("SELECT agent_id, shard, n FROM agent_result_counts ORDER BY agent_id")
            )
            assert [tuple(row) for row in rows] == [("counted-bot", 0, 42)]
            await conn.execute(
                text("INSERT INTO agent_result_counts (agent_id, shard, n) VALUES (:a, 7, 3)"),
                {"a": "counted-bot"},
            )
        await migrate.downgrade(engine, "0006_judge_uncertain")
        async with engine.connect() as conn:
            counts = await conn.execute(
                text("SELECT id, results_count FROM agents ORDER BY id"),
            )
            assert [tuple(row) for row in counts] == [("counted-bot", 45), ("idle-bot", 0)]
    finally:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM agents WHERE id IN ('counted-bot', 'idle-bot')"))
        await engine.dispose()
