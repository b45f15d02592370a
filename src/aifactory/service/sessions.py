"""Dashboard sessions and CSRF tokens (kept in cookies by :mod:`aifactory.web.render`).

Signing in trades an API key for a session cookie that never holds the key itself::

    aif_session = <key id>.<issued at>.<nonce>.<HMAC-SHA256>

The HMAC is keyed by ``AIFACTORY_SESSION_SECRET`` alone (see :mod:`aifactory.api.startup` for
where a development server finds one when it is unset). The key's id and stored hash are part of
the signed message, not of the signing key: nothing in the database, nor a copy of it, is enough
to sign a session. Sessions are stateless — every worker process checks them without shared
memory — and die with their key: revoking or deleting the key ends all its sessions at once,
since a session's key must still be found, unrevoked, with the hash it was signed with.
A session lasts :data:`SESSION_TTL_S`; signing out clears the cookie.

Every form POST carries a CSRF token. With a session it is an HMAC (with the same secret) of the
session's key and nonce, so it is per session; before signing in (the sign-in form itself) and
when authentication is disabled, it is a random value kept in its own HttpOnly, SameSite=Strict
cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aifactory.errors import Unauthorized
from aifactory.service.auth import ANONYMOUS, CACHE_TTL_S, Authenticator, Principal
from aifactory.store import sessions_repo
from aifactory.store.database import Database

SESSION_TTL_S = 12 * 3600
_CACHE_SIZE = 1024
# Keys derived from the secret for each use, so a value signed for one is never valid for another.
_SESSION_LABEL = b"aifactory dashboard session v2"
_CSRF_LABEL = b"aifactory dashboard csrf v2"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at the dashboard, and the CSRF token their forms must carry."""

    principal: Principal
    csrf_token: str
    """Empty when the token lives in the pre-session cookie (see :meth:`Sessions.form_token`)."""

    def can(self, scope: str) -> bool:
        """Whether the viewer's key carries ``scope``."""
        return self.principal.allows(scope)


class Sessions:
    """Opens and checks dashboard sessions for one app."""

    def __init__(
        self,
        db: Database,
        auth: Authenticator,
        *,
        secret: str,
        ttl_s: int = SESSION_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Sessions of the keys in ``db``, signed with ``secret``.

        Raises:
            ValueError: ``secret`` is empty.
        """
        if not secret:
            raise ValueError("Dashboard sessions need a secret to sign them with.")
        self.db = db
        self.auth = auth
        self.ttl_s = ttl_s
        self._session_key = hmac.new(secret.encode("utf-8"), _SESSION_LABEL, "sha256").digest()
        self._csrf_key = hmac.new(secret.encode("utf-8"), _CSRF_LABEL, "sha256").digest()
        self._clock = clock
        self._keys: OrderedDict[str, tuple[float, Principal, str] | tuple[float, None, None]]
        self._keys = OrderedDict()

    @property
    def required(self) -> bool:
        """False when the server runs with ``AIFACTORY_AUTH=disabled``."""
        return self.auth.enabled

    async def open(self, api_key: str, *, client: str | None = None) -> str:
        """A session token for ``api_key``, sent from the address ``client``.

        Raises:
            Unauthorized: the key is unknown or revoked.
            Forbidden: the key lacks the ``read`` scope the dashboard needs.
            RateLimited: ``client`` failed to authenticate too often lately.
        """
        principal = await self.auth.authenticate(f"Bearer {api_key.strip()}", client=client)
        self.auth.require(principal, "read")
        found = await self._key(principal.key_id, fresh=True)
        if found is None:
            raise Unauthorized("The API key is not valid or has been revoked.")
        _, key_hash = found
        issued = int(self._clock())
        nonce = secrets.token_urlsafe(16)
        payload = f"{principal.key_id}.{issued}.{nonce}"
        return f"{payload}.{self._sign(payload, key_hash)}"

    async def resume(self, token: str | None) -> Viewer | None:
        """The viewer behind a session cookie; None when it is missing, forged, old or revoked."""
        if not token:
            return None
        parts = token.split(".")
        if len(parts) != 4:
            return None
        key_id, issued_text, nonce, mac = parts
        try:
            issued = int(issued_text)
        except ValueError:
            return None
        age = self._clock() - issued
        if age < -60 or age > self.ttl_s:
            return None
        found = await self._key(key_id)
        if found is None:
            return None
        principal, key_hash = found
        expected = self._sign(f"{key_id}.{issued_text}.{nonce}", key_hash)
        if not hmac.compare_digest(mac.encode("utf-8"), expected.encode("ascii")):
            return None
        csrf = _mac(self._csrf_key, f"{key_id}.{nonce}")
        return Viewer(principal=principal, csrf_token=csrf)

    def anonymous(self) -> Viewer:
        """The viewer when authentication is disabled (forms use the pre-session token)."""
        return Viewer(principal=ANONYMOUS, csrf_token="")

    async def throttle(self, viewer: Viewer) -> None:
        """The API key's own rate limit applies to its dashboard requests too."""
        await self.auth.throttle(viewer.principal)

    def _sign(self, payload: str, key_hash: str) -> str:
        # The key's hash is signed, not signing: a session dies if the key's row is replaced.
        return _mac(self._session_key, f"{payload}.{key_hash}")

    async def _key(self, key_id: str, *, fresh: bool = False) -> tuple[Principal, str] | None:
        now = time.monotonic()
        cached = self._keys.get(key_id)
        if not fresh and cached is not None and now - cached[0] < CACHE_TTL_S:
            principal, key_hash = cached[1], cached[2]
        else:
            async with self.db.session() as session:
                found = await sessions_repo.active_key(session, key_id)
            if found is None:
                principal, key_hash = None, None
                self._keys[key_id] = (now, None, None)
            else:
                record, key_hash = found
                principal = Principal(key_id=record.id, name=record.name, scopes=record.scopes)
                self._keys[key_id] = (now, principal, key_hash)
            self._keys.move_to_end(key_id)
            if len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
        if principal is None or key_hash is None:
            return None
        return principal, key_hash


def new_form_token() -> str:
    """A fresh random value for the pre-session CSRF cookie."""
    return secrets.token_urlsafe(32)


def tokens_match(sent: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


__all__ = [
    "SESSION_TTL_S",
    "Sessions",
    "Viewer",
    "new_form_token",
    "tokens_match",
]
