"""Dashboard sessions: signed, bound to their key, expiring, and useless once forged or revoked."""

from __future__ import annotations

import pytest

from aifactory.api.auth import Authenticator
from aifactory.api.errors import Unauthorized
from aifactory.store import keys_repo
from aifactory.store.database import Database
from aifactory.web.render import safe_next
from aifactory.web.session import Sessions, tokens_match


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def make_key(db: Database, scopes: tuple[str, ...] = ("read",)) -> tuple[str, str]:
    async with db.write() as session:
        record, plaintext = await keys_repo.create_key(session, "viewer", scopes)
    return record.id, plaintext


def sessions(db: Database, *, secret: str | None = None, clock: Clock | None = None) -> Sessions:
    return Sessions(db, Authenticator(db), secret=secret, clock=clock or Clock())


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


async def test_the_session_secret_is_part_of_the_signature(database: Database) -> None:
    _, plaintext = await make_key(database)
    clock = Clock()
    token = await sessions(database, secret="one", clock=clock).open(plaintext)
    assert await sessions(database, secret="one", clock=clock).resume(token) is not None
    assert await sessions(database, secret="two", clock=clock).resume(token) is None
    assert await sessions(database, clock=clock).resume(token) is None


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
