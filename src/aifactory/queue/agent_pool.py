"""The agents a worker process has built, shared by every run of the same agent version.

An agent version is built once (an HTTP agent keeps its connection pool, an LLM agent its
client) together with what must be shared across runs to honour the agent's own limits: one
rate limiter and one semaphore of ``max_concurrency`` per agent version, whichever runs use it.
The pool keeps the most recently used versions and closes the others once no case uses them.

Those two limits come from an :class:`AgentLimits`: per process by default
(:class:`LocalAgentLimits`), or shared by every worker through Redis
(:class:`~aifactory.queue.shared_limits.SharedAgentLimits`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from aifactory.agents.base import Agent
from aifactory.domain.models import AgentSpec
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.limits import RateLimiter
from aifactory.engine.runner_factory import RunnerFactory, rate_limiter

log = logging.getLogger(__name__)

AgentKey = tuple[str, int]
"""``(agent_id, version)``."""


@dataclass(slots=True, eq=False)
class PooledAgent:
    """A built agent version and the limits every run of it shares in this process."""

    spec: AgentSpec
    version: int
    agent: Agent
    runner: CaseRunner
    limiter: RateLimiter
    semaphore: AbstractAsyncContextManager[Any]
    """Held while a case of this agent runs (``max_concurrency``)."""
    users: int = field(default=0)


class AgentLimits(Protocol):
    """Makes the limits an agent version's cases share: concurrency and rate."""

    def concurrency(self, spec: AgentSpec) -> AbstractAsyncContextManager[Any]:
        """Entered by each case while it runs; admits ``spec.max_concurrency`` at once."""
        ...

    def rate(self, spec: AgentSpec) -> RateLimiter:
        """Acquired by each case before its agent call (``spec.rate_limit_per_minute``)."""
        ...


class LocalAgentLimits:
    """:class:`AgentLimits` of this process only."""

    def concurrency(self, spec: AgentSpec) -> AbstractAsyncContextManager[Any]:
        """A new ``asyncio.Semaphore(spec.max_concurrency)``."""
        return asyncio.Semaphore(spec.max_concurrency)

    def rate(self, spec: AgentSpec) -> RateLimiter:
        """The in-process token bucket (:func:`~aifactory.engine.runner_factory.rate_limiter`)."""
        return rate_limiter(spec)


class AgentPool:
    """A small LRU of built agent versions; closes an agent when it leaves the pool.

    Args:
        engine: builds agents and case runners.
        options: how every case runs (time limit, retries, whether python checks may run).
        size: versions kept; more are built when needed and closed once unused.
        limits: where the agents' limits live (default: this process).
    """

    def __init__(
        self,
        engine: RunnerFactory,
        options: CaseRunnerOptions,
        *,
        size: int = 32,
        limits: AgentLimits | None = None,
    ) -> None:
        self._engine = engine
        self._limits = limits or LocalAgentLimits()
        self._options = options
        self._size = size
        self._entries: OrderedDict[AgentKey, PooledAgent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, agent_id: str, version: int) -> bool:
        """Whether the version is built already (so its spec need not be read again)."""
        return (agent_id, version) in self._entries

    async def acquire(self, agent_id: str, version: int, spec: AgentSpec | None) -> PooledAgent:
        """The built agent version, held until :meth:`release`.

        Args:
            agent_id: the agent.
            version: its version.
            spec: the version's spec; needed only when :meth:`cached` is false.

        Raises:
            ConfigError: the spec cannot be built into an agent (and other errors of
                ``build_agent``).
            ValueError: the version is not built and no spec was given.
        """
        key = (agent_id, version)
        entry = self._entries.get(key)
        if entry is None:
            if spec is None:
                raise ValueError(f"Agent {agent_id!r} version {version} is not built yet.")
            entry = self._build(spec, version)
            self._entries[key] = entry
        self._entries.move_to_end(key)
        entry.users += 1
        return entry

    async def release(self, entry: PooledAgent) -> None:
        """Stop holding ``entry``; agents beyond the pool's size are closed once idle."""
        entry.users -= 1
        await self._evict()

    def _build(self, spec: AgentSpec, version: int) -> PooledAgent:
        agent = self._engine.agent(spec)
        limiter = self._limits.rate(spec)
        runner = self._engine.case_runner(spec, agent, version=version, options=self._options)
        # A conversation's later turns are requests too: each waits for the agent's rate limit.
        runner.turn_gate = limiter.acquire
        return PooledAgent(
            spec=spec,
            version=version,
            agent=agent,
            runner=runner,
            limiter=limiter,
            semaphore=self._limits.concurrency(spec),
        )

    async def _evict(self) -> None:
        excess = len(self._entries) - self._size
        if excess <= 0:
            return
        idle = [key for key, entry in self._entries.items() if entry.users == 0][:excess]
        for key in idle:
            await _close(self._entries.pop(key))

    async def aclose(self) -> None:
        """Close every agent (the worker is stopping)."""
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await _close(entry)


async def _close(entry: PooledAgent) -> None:
    try:
        await entry.agent.aclose()
    except Exception:  # a failing close must not stop the others from closing
        log.warning("Closing agent %s failed.", entry.spec.id, exc_info=True)
