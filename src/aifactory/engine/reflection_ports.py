"""What the reflection loop needs from outside the engine, as two small ports and a role.

The loop (:mod:`aifactory.engine.reflection_loop`) decides; these carry its decisions out:

- :class:`ReflectionRuns` runs agent versions the way every run goes (stored, queued, executed
  by the batch queue's workers), waits for them to end, cancels them and reads their results;
- :class:`ReflectionRecords` reads what a reflection starts from and writes what it measures:
  candidate versions of the agent, the reflection's progress and its end;
- :class:`Proposer` is the reflector as the loop sees it
  (:class:`aifactory.llm.reflector.Reflector`).

The service layer implements the ports over the run service and the store; tests implement them
in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aifactory.domain.models import AgentSpec, TestCase, TestResult
from aifactory.domain.paging import Page
from aifactory.domain.reflection import ReflectionCreate
from aifactory.domain.runs import NewRun, Run
from aifactory.llm.reflector import Proposals, ReflectionContext


@dataclass(frozen=True, slots=True)
class ReflectionSetup:
    """What a reflection starts from, read when its loop starts."""

    agent_id: str
    params: ReflectionCreate
    agent: AgentSpec
    """The agent's current version: the baseline."""
    agent_version: int
    suite_id: str
    suite_version: int
    cases: list[TestCase]
    """The suite's cases at ``suite_version``, in order."""


@dataclass(frozen=True, slots=True)
class ReflectionProgress:
    """What the loop has measured so far, stored after every step."""

    state: dict[str, Any]
    """The measured document: mode, alpha, suite version, baseline, iterations."""
    cost_usd: float
    accepted_version: int | None


class ReflectionRuns(Protocol):
    """Runs of agent versions, through the batch queue like any other run."""

    async def launch(self, run: NewRun, cases: Sequence[TestCase]) -> Run:
        """Store a run of ``cases`` against ``run.agent_version`` and queue it.

        Raises:
            NotFound: no such agent.
        """
        ...

    async def wait(self, run_id: str) -> Run:
        """The run, once it has ended (``run.finished``).

        Raises:
            NotFound: no such run.
        """
        ...

    async def cancel(self, run_id: str) -> Run:
        """Stop the run; what it finished is kept."""
        ...

    async def spent_usd(self, run_id: str) -> float:
        """What the run's finished results cost (agent and judge)."""
        ...

    async def results(
        self, run_id: str, *, status: str | None, tag: str | None, limit: int, offset: int
    ) -> Page[TestResult]:
        """One page of the run's finished results, optionally of one status."""
        ...

    def iter_results(self, run_id: str) -> AsyncIterator[list[TestResult]]:
        """Every finished result of the run in case order, a chunk at a time."""
        ...


class ReflectionRecords(Protocol):
    """The reflection's own record, and the agent versions it makes."""

    async def setup(self, reflection_id: str) -> ReflectionSetup:
        """The reflection's parameters, its agent's current version and its suite's cases.

        Raises:
            NotFound: no such reflection, or its agent or suite was deleted.
        """
        ...

    async def add_candidates(
        self, agent_id: str, candidates: Sequence[tuple[AgentSpec, str]], *, parent_version: int
    ) -> list[int]:
        """Store each ``(spec, rationale)`` as a ``candidate`` version, together.

        Returns:
            The new versions' numbers, in order.
        """
        ...

    async def promote(self, agent_id: str, version: int, *, if_current_in: Collection[int]) -> int:
        """Make ``version`` the agent's current one, if its current one is in ``if_current_in``.

        Returns:
            The agent's current version afterwards (``version`` when it was promoted).
        """
        ...

    async def set_states(self, agent_id: str, states: Mapping[int, str]) -> None:
        """Set versions' states (``archived``, ``proposed``...), in order, together."""
        ...

    async def save(self, reflection_id: str, progress: ReflectionProgress) -> bool:
        """Store the progress (and stamp the heartbeat).

        Returns:
            Whether the reflection is still active: False once it was finished elsewhere.
        """
        ...

    async def finish(
        self,
        reflection_id: str,
        progress: ReflectionProgress,
        *,
        status: str,
        stop_reason: str,
        error: str | None,
    ) -> None:
        """Store the last progress and the outcome (a finished reflection is left as it is)."""
        ...

    async def heartbeat(self, reflection_id: str) -> bool:
        """Stamp the heartbeat; whether a cancel was asked (or the reflection ended elsewhere)."""
        ...


class Proposer(Protocol):
    """The reflector: proposes candidates from what it is shown."""

    async def propose(self, ctx: ReflectionContext) -> Proposals:
        """Candidates for ``ctx``.

        Raises:
            ReflectorError: no usable proposal.
        """
        ...
