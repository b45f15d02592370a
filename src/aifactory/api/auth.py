"""API keys on every request under ``/api/v1``: who is calling, with which scopes, how often."""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass

from aifactory.api.errors import Forbidden, RateLimited, Unauthorized
from aifactory.engine.limits import TokenBucket
from aifactory.store import keys_repo
from aifactory.store.database import Database

SCOPE_LADDER = {"read": 0, "write": 1, "admin": 2}
CACHE_TTL_S = 5.0
"""How long a verified key is trusted without asking the database (revocation elsewhere
takes at most this long to reach this process; revocation here is immediate)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an API key's id, name and scopes."""

    key_id: str
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        need = SCOPE_LADDER[scope]
        return any(SCOPE_LADDER.get(s, -1) >= need for s in self.scopes)


ANONYMOUS = Principal(key_id="anonymous", name="auth disabled", scopes=("admin",))


class Authenticator:
    """Checks bearer keys against their stored hashes, with a short in-process cache."""

    def __init__(self, db: Database, *, enabled: bool = True, rate_per_minute: int = 0) -> None:
        self.db = db
        self.enabled = enabled
        self.rate_per_minute = rate_per_minute
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._buckets: dict[str, TokenBucket] = {}

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached verifications (all, or those of one key) after a revocation."""
        if key_id is None:
            self._cache.clear()
            return
        for digest, (_, principal) in list(self._cache.items()):
            if principal is not None and principal.key_id == key_id:
                del self._cache[digest]

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header, or :class:`Unauthorized`."""
        if not self.enabled:
            return ANONYMOUS
        if not authorization:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <key>'.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
        digest = keys_repo.hash_key(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < CACHE_TTL_S:
            principal = cached[1]
        else:
            async with self.db.session() as session:
                record = await keys_repo.verify_key(session, token)
            principal = (
                Principal(key_id=record.id, name=record.name, scopes=record.scopes)
                if record is not None
                else None
            )
            self._cache[digest] = (now, principal)
            if len(self._cache) > 4096:
                self._cache.popitem(last=False)
        if principal is None:
            # Compare against something so a miss costs as long as a hit.
            hmac.compare_digest(digest, digest)
            raise Unauthorized("The API key is not valid or has been revoked.")
        return principal

    def require(self, principal: Principal, scope: str) -> None:
        """Raise :class:`Forbidden` unless ``principal`` carries ``scope``."""
        if not principal.allows(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope needed here.")

    async def throttle(self, principal: Principal) -> None:
        """Per-key rate limit; :class:`RateLimited` with ``Retry-After`` when exceeded."""
        if self.rate_per_minute <= 0:
            return
        bucket = self._buckets.get(principal.key_id)
        if bucket is None:
            bucket = TokenBucket(self.rate_per_minute, burst=max(1, self.rate_per_minute // 6))
            self._buckets[principal.key_id] = bucket
        wait = bucket.try_acquire()
        if wait > 0:
            raise RateLimited(
                f"Too many requests for this API key (limit {self.rate_per_minute} per minute).",
                retry_after=int(wait) + 1,
            )
