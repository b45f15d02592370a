"""API keys on every request under ``/api/v1``: who is calling, with which scopes, how often.

A key is looked up by its SHA-256 hash, an indexed equality match in the store, and that is safe
against timing without any constant-time comparison: the most a caller could learn from how long
lookups take is something about stored *hashes*, and a hash is useless to them. The server only
accepts a key whose hash matches, and nobody can find a key for a given SHA-256 hash when keys
are long and random (generated keys carry 256 random bits; operator keys must have at least 32
characters).

Failed keys are counted per client address (:mod:`aifactory.service.throttle`): after
``AIFACTORY_AUTH_FAILURES_PER_MINUTE`` of them, that address's requests with a missing or unknown
key are answered 429 until the minute ends, while keys already verified here keep working.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from aifactory.engine.limits import TokenBucket
from aifactory.errors import Forbidden, RateLimited, Unauthorized
from aifactory.service.throttle import FailureThrottle
from aifactory.store import keys_repo
from aifactory.store.database import Database

SCOPE_LADDER = {"read": 0, "write": 1, "admin": 2}
CACHE_TTL_S = 5.0
"""How long a verified key is trusted without asking the database (revocation elsewhere
takes at most this long to reach this process; revocation here is immediate)."""
_KNOWN_KEYS = 4096


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

    def __init__(
        self,
        db: Database,
        *,
        enabled: bool = True,
        rate_per_minute: int = 0,
        failures: FailureThrottle | None = None,
    ) -> None:
        """Check keys of ``db``.

        Args:
            db: where keys are stored.
            enabled: False when the server runs with ``AIFACTORY_AUTH=disabled``.
            rate_per_minute: requests per minute per key (0: no limit).
            failures: the failed-authentication throttle (default: one that never blocks).
        """
        self.db = db
        self.enabled = enabled
        self.rate_per_minute = rate_per_minute
        self.failures = failures if failures is not None else FailureThrottle(0)
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._buckets: dict[str, TokenBucket] = {}
        # Hashes of keys verified in this process: the ones a blocked address may still use.
        self._known: OrderedDict[str, None] = OrderedDict()

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached verifications (all, or those of one key) after a revocation."""
        if key_id is None:
            self._cache.clear()
            return
        for digest, (_, principal) in list(self._cache.items()):
            if principal is not None and principal.key_id == key_id:
                del self._cache[digest]

    async def authenticate(
        self, authorization: str | None, *, client: str | None = None
    ) -> Principal:
        """The caller behind an ``Authorization`` header.

        Args:
            authorization: the header's value.
            client: the client's address, as the ASGI server reports it.

        Raises:
            Unauthorized: no key, a malformed header, or a key that is unknown or revoked.
            RateLimited: ``client`` failed too often lately and sent no key verified here.
        """
        if not self.enabled:
            return ANONYMOUS
        blocked_for = self.failures.blocked_for(client)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if not authorization or scheme.lower() != "bearer" or not token:
            if blocked_for:
                raise _too_many_failures(blocked_for)
            if not authorization:
                raise Unauthorized("An API key is required: send 'Authorization: Bearer <key>'.")
            raise Unauthorized("The Authorization header must be 'Bearer <key>'.")
        digest = keys_repo.hash_key(token)
        if blocked_for and digest not in self._known:
            # No lookup at all: a guess sent while blocked is never checked.
            raise _too_many_failures(blocked_for)
        principal = await self._verify(digest, token)
        if principal is None:
            self.failures.failed(client)
            raise Unauthorized("The API key is not valid or has been revoked.")
        self._known[digest] = None
        self._known.move_to_end(digest)
        if len(self._known) > _KNOWN_KEYS:
            self._known.popitem(last=False)
        return principal

    async def _verify(self, digest: str, token: str) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < CACHE_TTL_S:
            return cached[1]
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


def _too_many_failures(wait_s: float) -> RateLimited:
    return RateLimited(
        "Too many failed authentications from this address; try again after Retry-After "
        "seconds with a valid API key.",
        retry_after=math.ceil(wait_s),
    )
