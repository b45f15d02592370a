"""API keys (hashed, revocable, scoped), idempotency keys (24 h, conflicts) and named locks."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import text

from aifactory.errors import Conflict, NotFound
from aifactory.store import keys_repo, locks_repo
from aifactory.store.database import Database
from aifactory.store.tables import utcnow

pytest_plugins = ["tests.fakes.databases"]

OPERATOR_KEY = "afk_operator-chosen-key-0123456789abcdef"


async def test_key_is_shown_once_and_stored_only_as_a_hash(database: Database) -> None:
    async with database.write() as session:
        record, plaintext = await keys_repo.create_key(session, "ci", ["read", "write"])
    assert plaintext.startswith("afk_") and len(plaintext) > 40
    assert plaintext.startswith(record.prefix) and len(record.prefix) < len(plaintext) // 2
    async with database.session() as session:
        stored = (await session.execute(text("SELECT * FROM api_keys"))).mappings().one()
        verified = await keys_repo.verify_key(session, plaintext)
        wrong = await keys_repo.verify_key(session, plaintext + "x")
    assert plaintext not in {str(v) for v in stored.values()}
    assert stored["key_hash"] == keys_repo.hash_key(plaintext)
    assert verified is not None and verified.id == record.id
    assert verified.allows("read") and verified.allows("write") and not verified.allows("admin")
    assert wrong is None


async def test_revoked_key_is_refused(database: Database) -> None:
    async with database.write() as session:
        record, plaintext = await keys_repo.create_key(session, "old", ["admin"])
        await keys_repo.touch_key(session, record.id)
    async with database.write() as session:
        await keys_repo.revoke_key(session, record.id)
        with pytest.raises(NotFound):
            await keys_repo.revoke_key(session, "no-such-key")
    async with database.session() as session:
        assert await keys_repo.verify_key(session, plaintext) is None
        listed = await keys_repo.list_keys(session)
        active = await keys_repo.list_keys(session, include_revoked=False)
    assert [(k.id, k.revoked_at is not None, k.last_used_at is not None) for k in listed.items] == [
        (record.id, True, True)
    ]
    assert active.total == 0


async def test_bootstrap_keys_are_stored_once_and_stay_revoked(database: Database) -> None:
    async with database.write() as session:
        first = await keys_repo.ensure_key(session, OPERATOR_KEY, name="env", scopes=["admin"])
        again = await keys_repo.ensure_key(session, OPERATOR_KEY, name="env", scopes=["admin"])
        await keys_repo.revoke_key(session, first.id)
        await keys_repo.ensure_key(session, OPERATOR_KEY, name="env", scopes=["admin"])
        assert await keys_repo.verify_key(session, OPERATOR_KEY) is None
    assert first.id == again.id
    with pytest.raises(ValueError, match="scopes must be some of read, write, admin"):
        async with database.write() as session:
            await keys_repo.create_key(session, "bad", ["superuser"])


async def test_no_part_of_an_operator_key_is_stored(database: Database) -> None:
    async with database.write() as session:
        record = await keys_repo.ensure_key(
            session, OPERATOR_KEY, name="bootstrap-1", scopes=["admin"]
        )
    digest = hashlib.sha256(OPERATOR_KEY.encode()).hexdigest()
    # What `printf %s "$KEY" | sha256sum | cut -c1-8` prints, as the docs say.
    assert record.prefix == f"sha256:{digest[:8]}"
    async with database.session() as session:
        stored = (await session.execute(text("SELECT * FROM api_keys"))).mappings().one()
    dumped = " ".join(str(v) for v in stored.values())
    windows = {OPERATOR_KEY[i : i + 6] for i in range(len(OPERATOR_KEY) - 5)}
    assert not [w for w in windows if w in dumped]


async def test_concurrent_stores_of_one_operator_key_make_one_row(database: Database) -> None:
    async def store() -> str:
        async with database.write() as session:
            record = await keys_repo.ensure_key(
                session, OPERATOR_KEY, name="bootstrap-1", scopes=["admin"]
            )
        return record.id

    ids = await asyncio.gather(*(store() for _ in range(8)))
    async with database.session() as session:
        count = (await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one()
    assert len(set(ids)) == 1
    assert count == 1


async def _lock_waiters(database: Database) -> int:
    async with database.session() as session:
        # Only this test's database: other sessions on the server may be waiting on their own.
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int((await session.execute(text(query))).scalar_one())


# SQLite takes one writer at a time: the interleaving cannot happen there.
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_an_operator_key_stored_while_another_process_stores_it(
    database: Database,
) -> None:
    """Two gunicorn workers starting at once on a fresh PostgreSQL database, interleaved exactly.

    The first has inserted the key but not committed; the second's insert must wait for it and
    then find the row instead of failing on the unique hash.
    """

    async def second_worker() -> str:
        async with database.write() as session:
            record = await keys_repo.ensure_key(
                session, OPERATOR_KEY, name="bootstrap-1", scopes=["admin"]
            )
        return record.id

    async with database.write() as session:
        first = await keys_repo.ensure_key(
            session, OPERATOR_KEY, name="bootstrap-1", scopes=["admin"]
        )
        second = asyncio.create_task(second_worker())
        for _ in range(2000):
            if second.done() or await _lock_waiters(database) > 0:
                break
            await asyncio.sleep(0.005)
        assert not second.done(), "the second insert should wait for the first transaction"
        assert await _lock_waiters(database) > 0
    assert await second == first.id
    async with database.session() as session:
        count = (await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one()
    assert count == 1


async def test_idempotency_same_body_same_run_other_body_conflict(database: Database) -> None:
    async with database.write() as session:
        first = await keys_repo.get_or_create_idempotency(session, "key1", "abc", "h1", "run-1")
    async with database.write() as session:
        repeat = await keys_repo.get_or_create_idempotency(session, "key1", "abc", "h1", "run-2")
        other_api_key = await keys_repo.get_or_create_idempotency(
            session, "key2", "abc", "h9", "run-3"
        )
        with pytest.raises(Conflict, match="different request body") as caught:
            await keys_repo.get_or_create_idempotency(session, "key1", "abc", "h2", "run-4")
    assert caught.value.code == "idempotency_conflict"
    assert (first.run_id, first.created) == ("run-1", True)
    assert (repeat.run_id, repeat.created) == ("run-1", False)
    assert (other_api_key.run_id, other_api_key.created) == ("run-3", True)


async def test_idempotency_keys_expire_after_a_day(database: Database) -> None:
    long_ago = utcnow() - timedelta(hours=25)
    async with database.write() as session:
        await keys_repo.get_or_create_idempotency(session, "k", "old", "h1", "run-1", now=long_ago)
        await keys_repo.get_or_create_idempotency(session, "k", "recent", "h1", "run-2")
    async with database.write() as session:
        assert await keys_repo.find_idempotent_run(session, "k", "old", "h2") is None
        reused = await keys_repo.get_or_create_idempotency(session, "k", "old", "h2", "run-3")
        assert (reused.run_id, reused.created) == ("run-3", True)
        purged = await keys_repo.purge_idempotency_keys(session, now=utcnow() + timedelta(hours=25))
    assert purged == 2


async def test_lock_is_held_until_it_expires(database: Database) -> None:
    now = utcnow()
    async with database.write() as session:
        assert await locks_repo.acquire_lock(session, "reconciler", "a", ttl_s=10, now=now)
        assert not await locks_repo.acquire_lock(session, "reconciler", "b", ttl_s=10, now=now)
        assert await locks_repo.acquire_lock(session, "reconciler", "a", ttl_s=10, now=now)
        later = now + timedelta(seconds=11)
        assert await locks_repo.acquire_lock(session, "reconciler", "b", ttl_s=10, now=later)
        assert not await locks_repo.release_lock(session, "reconciler", "a")
        assert await locks_repo.release_lock(session, "reconciler", "b")
        assert await locks_repo.acquire_lock(session, "reconciler", "c", ttl_s=10, now=now)
