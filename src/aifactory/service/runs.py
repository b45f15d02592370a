"""Runs: one case now, batches in the background, their status, results and cancellation."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aifactory.agents.base import Agent
from aifactory.agents.env import EnvPolicy
from aifactory.agents.ssrf import AddressPolicy
from aifactory.api.schemas import (
    BatchAccepted,
    BatchRequest,
    Page,
    RunPublic,
    RunStatusPublic,
    TestRunRequest,
)
from aifactory.domain.models import AgentSpec, TestResult
from aifactory.domain.runs import NewRun, Run
from aifactory.engine.case_runner import CaseRunnerOptions
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.service.budgets import batch_budget, require_budget_prices
from aifactory.service.validation import validate_agent, validate_cases
from aifactory.store import agents_repo, keys_repo, results_repo, runs_repo, suites_repo
from aifactory.store.database import Database

if TYPE_CHECKING:
    from aifactory.queue.base import BatchQueue

AGENT_POOL_SIZE = 64


def run_public(record: Run) -> RunPublic:
    return RunPublic(
        run_id=record.id,
        agent_id=record.agent_id,
        agent_version=record.agent_version,
        suite_id=record.suite_id,
        name=record.name,
        status=record.status,
        total=record.total,
        completed=record.completed,
        remaining=record.remaining,
        passed=record.passed,
        failed=record.failed,
        errored=record.errored,
        progress=record.progress,
        summary=record.summary,
        error=record.error,
        metadata=record.metadata,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


def request_hash(body: BatchRequest) -> str:
    """A canonical hash of a batch request, for idempotency."""
    blob = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


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
    ) -> None:
        self.db = db
        self.engine = engine
        self.queue = queue
        self.policy = policy
        self.env = env
        self.case_timeout_s = case_timeout_s
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

    async def run_one(self, body: TestRunRequest) -> TestResult:
        """Run one case now; a stored agent's result joins its history."""
        validate_cases([body.test_case], where="test_case")
        options = CaseRunnerOptions(timeout_s=self.case_timeout_s, allow_python=False)
        if body.agent is not None:
            spec = body.agent
            validate_agent(spec, self.policy, self.env)
            agent = self.engine.agent(spec)
            try:
                runner = self.engine.case_runner(spec, agent, options=options)
                return await runner.run(body.test_case)
            finally:
                await agent.aclose()
        assert body.agent_id is not None
        async with self.db.session() as session:
            record = await agents_repo.get_agent(session, body.agent_id)
        spec, version = record.spec, record.version
        agent = await self._pooled_agent(spec, version)
        runner = self.engine.case_runner(spec, agent, version=version, options=options)
        result = await runner.run(body.test_case)
        async with self.db.write() as session:
            return await results_repo.record_result(
                session,
                NewRun(agent_id=body.agent_id, agent_version=version, name="single case"),
                result,
            )

    async def submit(
        self, body: BatchRequest, *, api_key_id: str, idempotency_key: str | None
    ) -> BatchAccepted:
        """Store the run and a pending row per case in one transaction, then queue it."""
        if body.test_cases is not None:
            validate_cases(body.test_cases)
        digest = request_hash(body) if idempotency_key else ""
        if idempotency_key:
            async with self.db.session() as session:
                existing = await keys_repo.find_idempotent_run(
                    session, api_key_id, idempotency_key, digest
                )
                if existing is not None:
                    return self._accepted(await runs_repo.get_run(session, existing))
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
                        return self._accepted(await runs_repo.get_run(read, outcome.run_id))
        await self.queue.enqueue(record.id, record.total)
        return self._accepted(record)

    @staticmethod
    def _accepted(record: Run) -> BatchAccepted:
        return BatchAccepted(
            run_id=record.id,
            status=record.status,
            total=record.total,
            status_url=f"/api/v1/test/status/{record.id}",
        )

    async def status(self, run_id: str, *, limit: int, offset: int) -> RunStatusPublic:
        async with self.db.session() as session:
            record = await runs_repo.get_run(session, run_id)
            page = await results_repo.list_run_results(
                session, run_id, limit=limit, offset=offset, run=record
            )
        return RunStatusPublic(
            **run_public(record).model_dump(), results=page.items, results_total=page.total
        )

    async def get(self, run_id: str) -> RunPublic:
        async with self.db.session() as session:
            return run_public(await runs_repo.get_run(session, run_id))

    async def list(
        self,
        *,
        agent_id: str | None,
        status: str | None,
        limit: int,
        offset: int,
        id_prefix: str | None = None,
    ) -> Page[RunPublic]:
        async with self.db.session() as session:
            page = await runs_repo.list_runs(
                session,
                agent_id=agent_id,
                status=status,
                id_prefix=id_prefix,
                limit=limit,
                offset=offset,
            )
        return Page[RunPublic](
            items=[run_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    async def results(
        self, run_id: str, *, status: str | None, tag: str | None, limit: int, offset: int
    ) -> Page[TestResult]:
        async with self.db.session() as session:
            page = await results_repo.list_run_results(
                session, run_id, status=status, tag=tag, limit=limit, offset=offset
            )
        return Page[TestResult](
            items=page.items, total=page.total, limit=page.limit, offset=page.offset
        )

    async def agent_results(self, agent_id: str, *, limit: int, offset: int) -> Page[TestResult]:
        async with self.db.session() as session:
            page = await results_repo.list_agent_results(
                session, agent_id, limit=limit, offset=offset
            )
        return Page[TestResult](
            items=page.items, total=page.total, limit=page.limit, offset=page.offset
        )

    async def cancel(self, run_id: str) -> RunPublic:
        async with self.db.write() as session:
            await runs_repo.request_cancel(session, run_id)
        await self.queue.cancel(run_id)
        return await self.get(run_id)
