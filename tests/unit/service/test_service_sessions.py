"""Dashboard sessions: signed, bound to their key, expiring, and useless once forged or revoked."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import text

from aifactory.errors import Unauthorized
from aifactory.service.auth import Authenticator
from aifactory.service.sessions import Sessions, tokens_match
from aifactory.store import keys_repo
from aifactory.store.database import Database
from aifactory.web.render import safe_next

SECRET = "4f1c0d9e7b2a6c3e8d5f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abc"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def make_key(db: Database, scopes: tuple[str, ...] = ("read",)) -> tuple[str, str]:
    async with db.write() as session:
        record, plaintext = await keys_repo.create_key(session, "viewer", scopes)
    return record.id, plaintext


def sessions(db: Database, *, secret: str = SECRET, clock: Clock | None = None) -> Sessions:
    return Sessions(db, Authenticator(db), secret=secret, clock=clock or Clock())


def _hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


async def test_a_session_names_its_key_without_holding_it(database: Database) -> None:
    key_id, plaintext = await make_key(database, ("read", "write"))
    store = sessions(database)
    token = await store.open(plaintext)
    assert plaintext not in token
    viewer = await store.resume(token)
    assert viewer is not None
    assert viewer.principal.key_id == key_id
    assert viewer.can("write") and not viewer.can("admin")


async def test_each_session_has_its_own_csrf_token(database: Database) -> None:
    _, plaintext = await make_key(database)
    store = sessions(database)
    first = await store.resume(await store.open(plaintext))
    second = await store.resume(await store.open(plaintext))
    assert first is not None and second is not None
    assert first.csrf_token and second.csrf_token
    assert first.csrf_token != second.csrf_token
    assert tokens_match(first.csrf_token, first.csrf_token)
    assert not tokens_match(second.csrf_token, first.csrf_token)
    assert not tokens_match(None, first.csrf_token)


async def test_a_wrong_key_opens_no_session(database: Database) -> None:
    with pytest.raises(Unauthorized, match="not valid"):
        await sessions(database).open("afk_nobody-made-this-key")


async def test_tampered_tokens_are_refused(database: Database) -> None:
    _, plaintext = await make_key(database)
    other_id, other_plaintext = await make_key(database)
    store = sessions(database)
    token = await store.open(plaintext)
    key_id, issued, nonce, mac = token.split(".")
    forged = [
        f"{key_id}.{issued}.{nonce}.{'0' * len(mac)}",
        f"{other_id}.{issued}.{nonce}.{mac}",
        f"{key_id}.{int(issued) + 3600}.{nonce}.{mac}",
        f"{key_id}.{issued}.other-nonce.{mac}",
        f"{key_id}.{issued}.{nonce}",
        "",
        "not a token at all",
    ]
    for value in forged:
        assert await store.resume(value) is None, value
    assert await store.resume(await store.open(other_plaintext)) is not None


async def test_a_session_expires(database: Database) -> None:
    _, plaintext = await make_key(database)
    clock = Clock()
    store = sessions(database, clock=clock)
    token = await store.open(plaintext)
    clock.now += store.ttl_s - 1
    assert await store.resume(token) is not None
    clock.now += 2
    assert await store.resume(token) is None


async def test_revoking_the_key_ends_its_sessions(database: Database) -> None:
    key_id, plaintext = await make_key(database)
    clock = Clock()
    token = await sessions(database, clock=clock).open(plaintext)
    async with database.write() as session:
        await keys_repo.revoke_key(session, key_id)
    # A process that has not seen the key recently (every other worker) refuses at once.
    assert await sessions(database, clock=clock).resume(token) is None


async def test_only_the_session_secret_signs_a_session(database: Database) -> None:
    _, plaintext = await make_key(database)
    clock = Clock()
    token = await sessions(database, secret=SECRET, clock=clock).open(plaintext)
    assert await sessions(database, secret=SECRET, clock=clock).resume(token) is not None
    assert await sessions(database, secret=SECRET[::-1], clock=clock).resume(token) is None
    with pytest.raises(ValueError, match="secret"):
        sessions(database, secret="")


async def test_a_copy_of_the_database_cannot_forge_a_session(database: Database) -> None:
    key_id, plaintext = await make_key(database, ("read", "write"))
    clock = Clock()
    store = sessions(database, clock=clock)
    genuine = await store.open(plaintext)
    _, issued, nonce, _ = genuine.split(".")
    # Everything a copy of the database holds about the key.
    async with database.session() as session:
        row = (
            (await session.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key_id}))
            .mappings()
            .one()
        )
    key_hash = str(row["key_hash"])
    payload = f"{key_id}.{issued}.{nonce}"
    # The former scheme without AIFACTORY_SESSION_SECRET: HMAC keyed by HMAC("", stored hash).
    derived = hmac.new(b"", key_hash.encode("ascii"), hashlib.sha256).digest()
    candidates = {
        "former scheme": _hmac(derived, payload),
        "keyed by the stored hash": _hmac(key_hash.encode(), payload),
        "keyed by the stored hash, hash signed": _hmac(key_hash.encode(), f"{payload}.{key_hash}"),
        "keyed by nothing": _hmac(b"", f"{payload}.{key_hash}"),
        "the hash itself": key_hash,
        "a plain digest": hashlib.sha256(f"{payload}.{key_hash}".encode()).hexdigest(),
    }
    for how, mac in candidates.items():
        assert await store.resume(f"{payload}.{mac}") is None, how
        # A fresh process (another worker) refuses it too.
        assert await sessions(database, clock=clock).resume(f"{payload}.{mac}") is None, how
    viewer = await store.resume(genuine)
    assert viewer is not None and viewer.principal.key_id == key_id
    # Nor can the CSRF token of the session be computed from the copy.
    assert viewer.csrf_token not in {
        _hmac(derived, f"csrf.{nonce}"),
        _hmac(key_hash.encode(), f"csrf.{nonce}"),
        _hmac(b"", f"{key_id}.{nonce}"),
    }


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/runs?status=failed", "/runs?status=failed"),
        ("/agents/support-bot", "/agents/support-bot"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("runs", "/"),
        (None, "/"),
    ],
)
def test_after_signing_in_only_same_site_paths_are_followed(
    target: str | None, expected: str
) -> None:
    assert safe_next(target) == expected
