"""The reflection loop's ports in memory: runs decided at once, records kept in dicts.

An agent knows an item's answer when the case is tagged ``easy``, or when its system prompt
says :data:`HINT`; a run's results follow from that when it is launched. Runs end at once, or
never (``hang``: only a cancel stops them), so a test of the loop needs no database, no queue and
no clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aifactory.domain.models import AgentSpec, TestCase, TestResult, Usage
from aifactory.domain.paging import Page
from aifactory.domain.reflection import ReflectionCreate
from aifactory.domain.runs import NewRun, Run, RunStatus
from aifactory.engine.reflection_ports import ReflectionProgress, ReflectionSetup
from aifactory.errors import NotFound
from aifactory.llm.reflector import Proposal, Proposals, ReflectionContext

BASE_PROMPT = "You answer questions about item codes."
HINT = "Always cite the item code."
AGENT = "coder"


def suite(n: int = 40, easy: int = 10) -> list[TestCase]:
    """``n`` cases, the first ``easy`` tagged ``easy``, the rest ``hard``."""
    return [
        TestCase(
            name=f"item {i}",
            input=f"What is the code for item {i}?",
            tags=["easy" if i < easy else "hard"],
        )
        for i in range(n)
    ]


def agent(kind: str = "llm", prompt: str = BASE_PROMPT) -> AgentSpec:
    """The ``coder`` agent: an ``llm`` agent behind ``prompt``, or a scripted one."""
    config: dict[str, Any]
    if kind == "llm":
        config = {"provider": "anthropic", "model": "claude-haiku-4-5", "system_prompt": prompt}
    else:
        config = {"responses": [], "default": "No idea."}
    return AgentSpec(id=AGENT, kind=kind, config=config)


def knows(spec: AgentSpec, case: TestCase) -> bool:
    return "easy" in case.tags or HINT in str(spec.config.get("system_prompt") or "")


class InMemoryRecords:
    """:class:`~aifactory.engine.reflection_ports.ReflectionRecords` in dicts."""

    def __init__(
        self, params: ReflectionCreate, *, spec: AgentSpec | None = None, cases: int = 40
    ) -> None:
        self.params = params
        self.versions: dict[int, AgentSpec] = {1: spec or agent()}
        self.states: dict[int, str] = {1: "active"}
        self.current = 1
        self.cases = suite(cases)
        self.saved: list[ReflectionProgress] = []
        self.outcome: tuple[str, str, str | None] | None = None
        """(status, stop reason, error) once finished."""
        self.missing: NotFound | None = None
        """Raised by :meth:`setup` when set (the agent or suite was deleted)."""

    @property
    def last(self) -> ReflectionProgress:
        return self.saved[-1]

    async def setup(self, reflection_id: str) -> ReflectionSetup:
        if self.missing is not None:
            raise self.missing
        return ReflectionSetup(
            agent_id=AGENT,
            params=self.params,
            agent=self.versions[self.current],
            agent_version=self.current,
            suite_id="codes",
            suite_version=1,
            cases=list(self.cases),
        )

    async def add_candidates(
        self, agent_id: str, candidates: Sequence[tuple[AgentSpec, str]], *, parent_version: int
    ) -> list[int]:
        made = []
        for spec, _ in candidates:
            number = max(self.versions) + 1
            self.versions[number] = spec
            self.states[number] = "candidate"
            made.append(number)
        return made

    async def promote(self, agent_id: str, version: int, *, if_current_in: Collection[int]) -> int:
        if self.current in if_current_in:
            self.states[self.current] = "archived"
            self.states[version] = "active"
            self.current = version
        return self.current

    async def set_states(self, agent_id: str, states: Mapping[int, str]) -> None:
        assert self.current not in states, "the active version's state is never set"
        self.states.update(states)

    async def save(self, reflection_id: str, progress: ReflectionProgress) -> bool:
        if self.outcome is not None:
            return False
        self.saved.append(progress)
        return True

    async def finish(
        self,
        reflection_id: str,
        progress: ReflectionProgress,
        *,
        status: str,
        stop_reason: str,
        error: str | None,
    ) -> None:
        self.saved.append(progress)
        self.outcome = (status, stop_reason, error)

    async def heartbeat(self, reflection_id: str) -> bool:
        return False


class InMemoryRuns:
    """:class:`~aifactory.engine.reflection_ports.ReflectionRuns` deciding each case at launch.

    Args:
        versions: the agent's versions (the records' dict), which decide the answers.
        cost_per_case: what each finished case costs.
        hang: runs never end by themselves; :attr:`waiting` is set once the loop waits.
    """

    def __init__(
        self, versions: dict[int, AgentSpec], *, cost_per_case: float = 0.0, hang: bool = False
    ) -> None:
        self._versions = versions
        self._cost = cost_per_case
        self._hang = hang
        self.runs: dict[str, Run] = {}
        self.launched: list[NewRun] = []
        self.cancelled: list[str] = []
        self.waiting = asyncio.Event()
        self._results: dict[str, list[TestResult]] = {}

    async def launch(self, run: NewRun, cases: Sequence[TestCase]) -> Run:
        self.launched.append(run)
        run_id = f"run-{len(self.launched)}"
        spec = self._versions[run.agent_version]
        results = [self._result(spec, case, i) for i, case in enumerate(cases)]
        passed = sum(r.passed for r in results)
        self._results[run_id] = [] if self._hang else results
        done = 0 if self._hang else len(results)
        self.runs[run_id] = Run(
            id=run_id,
            agent_id=run.agent_id,
            agent_version=run.agent_version,
            suite_id=run.suite_id,
            suite_version=run.suite_version,
            name=run.name,
            status=RunStatus.RUNNING if self._hang else RunStatus.COMPLETED,
            total=len(results),
            completed=done,
            passed=0 if self._hang else passed,
            failed=0 if self._hang else done - passed,
            errored=0,
            cancelled=0,
            repeat=1,
            concurrency=None,
            metadata=dict(run.metadata),
            summary=None,
            error=None,
            created_at=datetime.now(UTC),
            started_at=None,
            finished_at=None,
        )
        return self.runs[run_id]

    def _result(self, spec: AgentSpec, case: TestCase, index: int) -> TestResult:
        ok = knows(spec, case)
        return TestResult(
            test_case=case,
            case_index=index,
            status="passed" if ok else "failed",
            passed=ok,
            score=1.0 if ok else 0.0,
            output="The code is known." if ok else "I don't know.",
            usage=Usage(cost_usd=self._cost),
        )

    async def wait(self, run_id: str) -> Run:
        if self._hang:
            self.waiting.set()
            await asyncio.Event().wait()  # only a cancel of this wait ends it
        return self.runs[run_id]

    async def cancel(self, run_id: str) -> Run:
        self.cancelled.append(run_id)
        self.runs[run_id] = replace(self.runs[run_id], status=RunStatus.CANCELLED)
        return self.runs[run_id]

    async def spent_usd(self, run_id: str) -> float:
        return self._cost * len(self._results[run_id])

    async def results(
        self, run_id: str, *, status: str | None, tag: str | None, limit: int, offset: int
    ) -> Page[TestResult]:
        found = [r for r in self._results[run_id] if status is None or r.status == status]
        return Page(
            items=found[offset : offset + limit], total=len(found), limit=limit, offset=offset
        )

    async def iter_results(self, run_id: str) -> AsyncIterator[list[TestResult]]:
        yield list(self._results[run_id])


Proposer = Callable[[ReflectionContext], list[Proposal]]


class ScriptedReflector:
    """The reflector: answers with what ``proposer`` makes of the context; remembers each."""

    def __init__(self, proposer: Proposer, *, cost_usd: float = 0.0) -> None:
        self.proposer = proposer
        self.cost_usd = cost_usd
        self.asked: list[ReflectionContext] = []

    async def propose(self, ctx: ReflectionContext) -> Proposals:
        self.asked.append(ctx)
        return Proposals(items=self.proposer(ctx), usage=Usage(cost_usd=self.cost_usd))


def improving(ctx: ReflectionContext) -> list[Proposal]:
    """The hint (which fixes every hard case), then a change that does nothing."""
    return [
        Proposal(rationale="It never cites codes; tell it to.", text=f"{BASE_PROMPT}\n{HINT}"),
        Proposal(rationale="Politeness helps.", text=f"{BASE_PROMPT}\nBe polite."),
    ]


def useless(ctx: ReflectionContext) -> list[Proposal]:
    """A change that does nothing."""
    return [Proposal(rationale="Politeness helps.", text=f"{ctx.system_prompt}\nBe polite.")]
