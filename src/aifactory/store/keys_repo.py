"""API keys and idempotency keys.

An API key made here is ``afk_`` plus 43 random URL-safe characters, shown once at creation; only
its SHA-256 hash and a display prefix (for telling keys apart in lists) are stored. The prefix of
a generated key is its first 12 characters, ``afk_`` and 8 random ones: the 35 characters left
still hold 210 random bits, so the prefix gives nothing useful away. A key supplied by the
operator (``AIFACTORY_API_KEYS``) may be far less random, so no part of it is stored: its prefix
is a fingerprint, ``sha256:`` and the first 8 hex digits of the key's SHA-256 hash
(``printf %s "$KEY" | sha256sum | cut -c1-8`` shows it). A key is found by its hash; see
:mod:`aifactory.service.auth` for why that needs no constant-time comparison.

Idempotency keys remember, per API key and for 24 hours, which run a request body created, so a
retried ``POST /test/batch`` answers the same run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from aifactory.domain.paging import Page
from aifactory.domain.records import ApiKeyRecord, IdempotencyOutcome
from aifactory.errors import Conflict, NotFound
from aifactory.store._bulk import rowcount
from aifactory.store.tables import ApiKey, IdempotencyKey, utcnow

KEY_PREFIX = "afk_"
SCOPES = ("read", "write", "admin")
IDEMPOTENCY_TTL = timedelta(hours=24)
_DISPLAY_CHARS = 12
FINGERPRINT_PREFIX = "sha256:"
_FINGERPRINT_HEX = 8


def hash_key(plaintext: str) -> str:
    """The stored form of an API key: its SHA-256 hex digest."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def fingerprint(key_hash: str) -> str:
    """The display prefix of an operator key: no part of the key, only of its hash."""
    return FINGERPRINT_PREFIX + key_hash[:_FINGERPRINT_HEX]


def _record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _scopes(scopes: Iterable[str]) -> str:
    chosen = list(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ValueError(
            f"API key scopes must be some of {', '.join(SCOPES)}; "
            f"got {', '.join(chosen) or 'none'}."
        )
    return " ".join(chosen)


async def create_key(
    session: AsyncSession, name: str, scopes: Iterable[str] = ("read", "write")
) -> tuple[ApiKeyRecord, str]:
    """Make a new API key; returns its record and the plaintext, which is never seen again.

    Raises:
        ValueError: an unknown scope, or none.
    """
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        prefix=plaintext[:_DISPLAY_CHARS],
        key_hash=hash_key(plaintext),
        scopes=_scopes(scopes),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _record(row), plaintext


async def ensure_key(
    session: AsyncSession, plaintext: str, *, name: str, scopes: Iterable[str]
) -> ApiKeyRecord:
    """Store a key given from outside (``AIFACTORY_API_KEYS``) unless it is already stored.

    Safe when several processes store the same key at once (gunicorn workers starting on a fresh
    database): the insert does nothing when the hash is already there, committed or not, and
    every caller gets the one stored row. A revoked key stays revoked: listing it in the
    environment does not bring it back.
    """
    digest = hash_key(plaintext)
    row = await _by_hash(session, digest)
    if row is None:
        values = {
            "id": str(uuid.uuid4()),
            "name": name,
            "prefix": fingerprint(digest),
            "key_hash": digest,
            "scopes": _scopes(scopes),
            "created_at": utcnow(),
        }
        # On PostgreSQL this waits for a concurrent insert of the same hash to commit.
        await session.execute(_insert(session, ApiKey).values(**values).on_conflict_do_nothing())
        row = await _by_hash(session, digest)
    if row is None:  # pragma: no cover - the row was inserted or was there
        raise RuntimeError("An operator API key could not be stored.")
    return _record(row)


async def _by_hash(session: AsyncSession, digest: str) -> ApiKey | None:
    query = (
        select(ApiKey).where(ApiKey.key_hash == digest).execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def verify_key(session: AsyncSession, plaintext: str) -> ApiKeyRecord | None:
    """The key's record when ``plaintext`` is a stored, unrevoked key; else None."""
    row = await _by_hash(session, hash_key(plaintext))
    if row is None or row.revoked_at is not None:
        return None
    return _record(row)


async def touch_key(session: AsyncSession, key_id: str, *, now: datetime | None = None) -> None:
    """Record that the key was just used."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


async def list_keys(
    session: AsyncSession, *, include_revoked: bool = True, limit: int = 100, offset: int = 0
) -> Page[ApiKeyRecord]:
    """API keys, newest first (records only: no secret, no hash)."""
    query = select(ApiKey)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    rows = (
        (await session.execute(query.order_by(ApiKey.created_at.desc(), ApiKey.id))).scalars().all()
    )
    items = [_record(r) for r in rows]
    return Page(items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset)


async def revoke_key(session: AsyncSession, key_id: str, *, now: datetime | None = None) -> None:
    """Revoke the key; it is refused from now on (revoking twice is harmless).

    Raises:
        NotFound: no such key.
    """
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key", key_id)
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        await session.flush()


def _insert(
    session: AsyncSession, table: type[ApiKey] | type[IdempotencyKey]
) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _insert_ignoring_conflicts(session: AsyncSession) -> Insert:
    conflict = ["api_key_id", "key"]
    return _insert(session, IdempotencyKey).on_conflict_do_nothing(index_elements=conflict)


async def find_idempotent_run(
    session: AsyncSession,
    api_key_id: str,
    key: str,
    request_hash: str,
    *,
    now: datetime | None = None,
) -> str | None:
    """The run an unexpired ``key`` already created, or None.

    Raises:
        Conflict: the key was used with a different request body (``idempotency_conflict``).
    """
    now = now or utcnow()
    row = await session.get(IdempotencyKey, (api_key_id, key), populate_existing=True)
    if row is None or row.expires_at <= now:
        return None
    if not hmac.compare_digest(row.request_hash, request_hash):
        raise Conflict(
            f"The Idempotency-Key {key!r} was already used with a different request body; "
            "use a new key for a new request.",
            code="idempotency_conflict",
        )
    return row.run_id


async def get_or_create_idempotency(
    session: AsyncSession,
    api_key_id: str,
    key: str,
    request_hash: str,
    run_id: str,
    *,
    now: datetime | None = None,
) -> IdempotencyOutcome:
    """Remember that ``key`` made ``run_id``, unless an unexpired use of it is already stored.

    Call it in the transaction that creates the run. When ``created`` is False another request
    won: answer its ``run_id`` and roll back this transaction's run.

    Raises:
        Conflict: the key was used with a different request body (``idempotency_conflict``).
    """
    now = now or utcnow()
    existing = await find_idempotent_run(session, api_key_id, key, request_hash, now=now)
    if existing is not None:
        return IdempotencyOutcome(run_id=existing, created=False)
    # An expired use of the key is forgotten, so the key can name a new request.
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.api_key_id == api_key_id,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= now,
        )
    )
    values = {
        "api_key_id": api_key_id,
        "key": key,
        "request_hash": request_hash,
        "run_id": run_id,
        "created_at": now,
        "expires_at": now + IDEMPOTENCY_TTL,
    }
    stmt = _insert_ignoring_conflicts(session)
    result = await session.execute(stmt.values(**values))
    if rowcount(result) == 1:
        return IdempotencyOutcome(run_id=run_id, created=True)
    # A concurrent request with the same key committed first.
    winner = await find_idempotent_run(session, api_key_id, key, request_hash, now=now)
    return IdempotencyOutcome(run_id=winner or run_id, created=winner is None)


async def purge_idempotency_keys(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Forget idempotency keys older than 24 hours; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return rowcount(result)
