"""Runs: one case now, batches in the background, their status, results and cancellation."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from aifactory.agents.base import Agent
from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.domain.models import AgentSpec, TestCase, TestResult
from aifactory.domain.paging import Page
from aifactory.domain.runs import BatchCommand, NewRun, Run, RunImport
from aifactory.engine.case_runner import CaseRunnerOptions
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.engine.summary import SummaryBuilder
from aifactory.errors import InvalidInput
from aifactory.queue.summaries import spent_usd
from aifactory.service.budgets import batch_budget, require_budget_prices
from aifactory.service.validation import validate_agent, validate_cases
from aifactory.store import (
    agents_repo,
    imported_runs_repo,
    keys_repo,
    results_repo,
    runs_repo,
    suites_repo,
)
from aifactory.store.database import Database

if TYPE_CHECKING:
    from aifactory.queue.base import BatchQueue

AGENT_POOL_SIZE = 64
WAIT_FIRST_S = 0.05
"""How soon a wait first reads a run again when nothing woke it."""
WAIT_MAX_S = 1.0
"""The longest a wait goes without reading the run again (another process's end wakes nobody)."""


class RunService:
    """Runs cases now or in the background, and reports on them."""

    def __init__(
        self,
        db: Database,
        engine: RunnerFactory,
        queue: BatchQueue,
        policy: AddressPolicy,
        *,
        env: EnvPolicy,
        case_timeout_s: float = 60.0,
        conversation_timeout_s: float = 600.0,
    ) -> None:
        self.db = db
        self.engine = engine
        self.queue = queue
        self.policy = policy
        self.env = env
        self.case_timeout_s = case_timeout_s
        self.conversation_timeout_s = conversation_timeout_s
        self._agents: OrderedDict[tuple[str, int], Agent] = OrderedDict()

    async def _pooled_agent(self, spec: AgentSpec, version: int) -> Agent:
        assert spec.id is not None
        key = (spec.id, version)
        agent = self._agents.get(key)
        if agent is None:
            agent = self.engine.agent(spec)
            self._agents[key] = agent
            if len(self._agents) > AGENT_POOL_SIZE:
                _, old = self._agents.popitem(last=False)
                await old.aclose()
        else:
            self._agents.move_to_end(key)
        return agent

    async def aclose(self) -> None:
        while self._agents:
            _, agent = self._agents.popitem()
            await agent.aclose()

    async def run_one(
        self, test_case: TestCase, *, agent_id: str | None = None, agent: AgentSpec | None = None
    ) -> TestResult:
        """Run one case now against a stored agent or an inline one (exactly one of the two);
        a stored agent's result joins its history."""
        validate_cases([test_case], where="test_case")
        options = CaseRunnerOptions(
            timeout_s=self.case_timeout_s,
            conversation_timeout_s=self.conversation_timeout_s,
            allow_python=False,
        )
        if agent is not None:
            validate_agent(agent, self.policy, self.env)
            inline = self.engine.agent(agent)
            try:
                runner = self.engine.case_runner(agent, inline, options=options)
                return await runner.run(test_case)
            finally:
                await inline.aclose()
        assert agent_id is not None
        async with self.db.session() as session:
            record = await agents_repo.get_agent(session, agent_id)
        spec, version = record.spec, record.version
        pooled = await self._pooled_agent(spec, version)
        runner = self.engine.case_runner(spec, pooled, version=version, options=options)
        result = await runner.run(test_case)
        # One statement on PostgreSQL (see record_result), so no transaction around it there.
        async with self.db.write_statement() as session:
            return await results_repo.record_result(
                session,
                NewRun(agent_id=agent_id, agent_version=version, name="single case"),
                result,
            )

    async def submit(self, body: BatchCommand) -> Run:
        """Store the run and a pending row per case in one transaction, then queue it.

        With an ``idempotency_key`` already used by the same key for the same request, answers
        the run that request made (and queues nothing).
        """
        api_key_id, idempotency_key = body.api_key_id, body.idempotency_key
        if body.test_cases is not None:
            validate_cases(body.test_cases)
        digest = body.fingerprint() if idempotency_key else ""
        if idempotency_key:
            async with self.db.session() as session:
                existing = await keys_repo.find_idempotent_run(
                    session, api_key_id, idempotency_key, digest
                )
                if existing is not None:
                    return await runs_repo.get_run(session, existing)
        if batch_budget(body.metadata) is not None:
            # A budget that a model without a price could overspend unseen is refused (422).
            await require_budget_prices(
                self.db,
                self.engine.settings,
                field="metadata.budget_usd",
                agent_id=body.agent_id,
                test_cases=body.test_cases,
                suite_id=body.suite_id,
            )
        # Before anything is stored: a full queue answers 503 with Retry-After.
        await self.queue.admit()
        metadata = dict(body.metadata)
        async with self.db.write() as session:
            agent = await agents_repo.get_agent(session, body.agent_id)
            cases: Any = body.test_cases or []
            suite_version = None
            if body.suite_id is not None:
                suite = await suites_repo.get_suite(session, body.suite_id)
                suite_version = suite.version
                cases = suites_repo.iter_suite_cases(session, body.suite_id)
            new_run = NewRun(
                agent_id=body.agent_id,
                agent_version=agent.version,
                name=body.name,
                suite_id=body.suite_id,
                suite_version=suite_version,
                repeat=body.repeat,
                concurrency=body.concurrency,
                metadata=metadata,
                api_key_id=api_key_id,
            )
            record = await runs_repo.create_run_with_pending_results(session, new_run, cases)
            if idempotency_key:
                outcome = await keys_repo.get_or_create_idempotency(
                    session, api_key_id, idempotency_key, digest, record.id
                )
                if not outcome.created:
                    await session.rollback()
                    async with self.db.session() as read:
                        return await runs_repo.get_run(read, outcome.run_id)
        await self.queue.enqueue(record.id, record.total)
        return record

    async def import_run(self, command: RunImport) -> Run:
        """Store a finished run made elsewhere with its results, against the agent's current
        version; its summary is computed here, as for a run of this server's.

        Raises:
            NotFound: no such agent.
            InvalidInput: two results of the same case and repeat.
        """
        seen: dict[tuple[int, int], int] = {}
        for i, result in enumerate(command.results):
            key = (result.case_index, result.repeat_index)
            if key in seen:
                message = (
                    f"results[{i}] is case {result.case_index}, repeat {result.repeat_index} "
                    f"again (as results[{seen[key]}]); give each case and repeat once."
                )
                raise InvalidInput(message, details=[{"field": f"results.{i}", "message": message}])
            seen[key] = i
        repeat = 1 + max((r.repeat_index for r in command.results), default=0)
        summary = SummaryBuilder(len(command.results), repeat=repeat)
        for result in command.results:
            summary.add(result)
        async with self.db.write() as session:
            agent = await agents_repo.get_agent(session, command.agent_id)
            new_run = NewRun(
                agent_id=command.agent_id,
                agent_version=agent.version,
                name=command.name,
                repeat=repeat,
                metadata=dict(command.metadata),
                api_key_id=command.api_key_id,
            )
            return await imported_runs_repo.store_finished_run(
                session, new_run, command.results, summary.build().model_dump(mode="json")
            )

    async def launch(self, run: NewRun, cases: Sequence[TestCase]) -> Run:
        """Store a run of ``cases`` against the agent version ``run`` names, then queue it.

        For runs of work accepted as a whole earlier (a reflection's): their cases and budget
        were checked then, so no admission check and no idempotency key here.

        Raises:
            NotFound: no such agent.
        """
        async with self.db.write() as session:
            record = await runs_repo.create_run_with_pending_results(session, run, list(cases))
        await self.queue.enqueue(record.id, record.total)
        return record

    async def wait(
        self, run_id: str, *, first_s: float = WAIT_FIRST_S, max_s: float = WAIT_MAX_S
    ) -> Run:
        """The run, once it has ended (``run.finished``).

        The queue wakes the wait as soon as a worker of this process ends the run; a run ended
        elsewhere is seen on a later read: after ``first_s``, then twice as long each time, up
        to ``max_s``.

        Raises:
            NotFound: no such run.
        """
        delay = first_s
        with self.queue.watch(run_id) as watch:
            while True:
                run = await self.get(run_id)
                if run.finished:
                    return run
                await watch.wait(delay)
                delay = min(2 * delay, max_s)

    async def spent_usd(self, run_id: str) -> float:
        """What the run's finished results cost (agent and judge)."""
        return await spent_usd(self.db, run_id)

    async def iter_results(self, run_id: str) -> AsyncIterator[list[TestResult]]:
        """Every finished result of the run in case order, a chunk at a time."""
        async with self.db.session() as session:
            async for chunk in results_repo.iter_run_results(session, run_id):
                yield chunk

    async def status(self, run_id: str, *, limit: int, offset: int) -> tuple[Run, Page[TestResult]]:
        """The run and one page of its finished results, read together."""
        async with self.db.session() as session:
            record = await runs_repo.get_run(session, run_id, review=True)
            page = await results_repo.list_run_results(
                session, run_id, limit=limit, offset=offset, run=record, reviews=True
            )
        return record, page

    async def get(self, run_id: str) -> Run:
        async with self.db.session() as session:
            return await runs_repo.get_run(session, run_id, review=True)

    async def list(
        self,
        *,
        agent_id: str | None,
        status: str | None,
        limit: int,
        offset: int,
        id_prefix: str | None = None,
    ) -> Page[Run]:
        async with self.db.session() as session:
            return await runs_repo.list_runs(
                session,
                agent_id=agent_id,
                status=status,
                id_prefix=id_prefix,
                limit=limit,
                offset=offset,
            )

    async def results(
        self, run_id: str, *, status: str | None, tag: str | None, limit: int, offset: int
    ) -> Page[TestResult]:
        async with self.db.session() as session:
            return await results_repo.list_run_results(
                session, run_id, status=status, tag=tag, limit=limit, offset=offset, reviews=True
            )

    async def agent_results(self, agent_id: str, *, limit: int, offset: int) -> Page[TestResult]:
        # One statement: the page and its total are read together (see list_agent_results).
        async with self.db.session(snapshot=False) as session:
            return await results_repo.list_agent_results(
                session, agent_id, limit=limit, offset=offset, reviews=True
            )

    async def cancel(self, run_id: str) -> Run:
        async with self.db.write() as session:
            await runs_repo.request_cancel(session, run_id)
        await self.queue.cancel(run_id)
        return await self.get(run_id)
