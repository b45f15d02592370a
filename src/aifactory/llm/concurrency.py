"""An adaptive concurrency limit per provider: halve on a rate limit, grow back slowly.

This is additive-increase / multiplicative-decrease, as TCP does it: every 429 (or 529) halves
the number of calls allowed in flight (never below 1); every ``grow_after`` successes in a row
raise it by one, never above the configured maximum (``AIFACTORY_LLM_MAX_CONCURRENCY``).

Only one halving happens per burst: a 429 answered to a call that was sent *before* the last
halving says nothing new (that call was sent under the old, larger limit), so it is ignored.
Each slot carries the ``epoch`` of the limit it was granted under for that purpose.

The limit itself lives in a :class:`LimiterStateStore`; the in-memory store keeps it per
process, and a shared store (Redis, later) lets every worker obey one limit per provider key.
Calls in flight are always counted locally.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LimiterState:
    """The shared part of a limiter: its current limit and how it got there."""

    limit: int
    successes: int = 0
    """Successes in a row since the limit last changed."""
    epoch: int = 0
    """How many times the limit was cut; slots granted under an older epoch cannot cut it."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One granted slot."""

    epoch: int


StateChange = Callable[[LimiterState | None], LimiterState]


class LimiterStateStore(Protocol):
    """Where limiter states live, keyed by provider (and API key, base URL).

    ``update`` must apply ``change`` atomically: a Redis store would run it in a
    ``WATCH``/``MULTI`` loop (or as a Lua script mirroring the same arithmetic).
    """

    async def get(self, key: str) -> LimiterState | None:
        """The state stored under ``key``, if any."""
        ...

    async def update(self, key: str, change: StateChange) -> LimiterState:
        """Replace the state under ``key`` by ``change(state)`` and return the new state."""
        ...


class InMemoryLimiterStore:
    """A per-process :class:`LimiterStateStore` (a dict; the event loop makes it atomic)."""

    def __init__(self) -> None:
        self._states: dict[str, LimiterState] = {}

    async def get(self, key: str) -> LimiterState | None:
        """The state stored under ``key``, if any."""
        return self._states.get(key)

    async def update(self, key: str, change: StateChange) -> LimiterState:
        """Apply ``change`` to the state under ``key`` (no await in between: atomic)."""
        new = change(self._states.get(key))
        self._states[key] = new
        return new


class AdaptiveLimiter:
    """Limits calls in flight to a limit that adapts to the provider's rate limits.

    Example:
        >>> limiter = AdaptiveLimiter("anthropic", max_concurrency=8)
        >>> async with limiter.slot() as ticket:  # doctest: +SKIP
        ...     ...  # the call; then on_success() or on_rate_limited(ticket)
    """

    def __init__(
        self,
        key: str,
        max_concurrency: int,
        *,
        grow_after: int = 10,
        store: LimiterStateStore | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1.")
        if grow_after < 1:
            raise ValueError("grow_after must be at least 1.")
        self.key = key
        self.max_concurrency = max_concurrency
        self.grow_after = grow_after
        self._store = store or InMemoryLimiterStore()
        # Optimistic start: the full configured concurrency until the provider objects.
        self._state = LimiterState(limit=max_concurrency)
        self._in_flight = 0
        self._changed = asyncio.Condition()

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now (in this process)."""
        return self._in_flight

    @property
    def limit(self) -> int:
        """The limit in force, as last seen."""
        return self._state.limit

    def state(self) -> LimiterState:
        """A snapshot of the limiter's state."""
        return self._state

    async def refresh(self) -> LimiterState:
        """Read the state from the store (another process may have changed it)."""
        stored = await self._store.get(self.key)
        if stored is not None:
            await self._adopt(stored)
        return self._state

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        """Hold one slot for the duration of a call; waits while the limit is reached."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self._state.limit)
            self._in_flight += 1
            ticket = Ticket(epoch=self._state.epoch)
        try:
            yield ticket
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    async def on_success(self) -> LimiterState:
        """Count a success; after ``grow_after`` in a row the limit grows by one."""

        def grow(state: LimiterState | None) -> LimiterState:
            state = self._clamped(state)
            successes = state.successes + 1
            if successes < self.grow_after:
                return replace(state, successes=successes)
            return replace(state, limit=min(self.max_concurrency, state.limit + 1), successes=0)

        return await self._adopt(await self._store.update(self.key, grow))

    async def on_rate_limited(self, ticket: Ticket) -> LimiterState:
        """Halve the limit (not below 1), unless the call was sent before the last cut."""

        def cut(state: LimiterState | None) -> LimiterState:
            state = self._clamped(state)
            if ticket.epoch < state.epoch:
                return state
            return LimiterState(limit=max(1, state.limit // 2), successes=0, epoch=state.epoch + 1)

        return await self._adopt(await self._store.update(self.key, cut))

    def _clamped(self, state: LimiterState | None) -> LimiterState:
        if state is None:
            return self._state
        # The store may be shared with a process configured with another maximum.
        return replace(state, limit=max(1, min(self.max_concurrency, state.limit)))

    async def _adopt(self, state: LimiterState) -> LimiterState:
        self._state = self._clamped(state)
        async with self._changed:
            self._changed.notify_all()
        return self._state
