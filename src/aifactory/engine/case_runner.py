"""Runs one test case: the agent's reply (timeout, retries, cache), the checks, the grade.

Conversation cases (``turns`` or ``simulated_user``) go to the
:class:`~aifactory.engine.conversation_runner.ConversationRunner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic_core import PydanticSerializationError

from aifactory.agents.base import Agent
from aifactory.domain.checks import BuiltCheck, CheckContext, build_check, run_check
from aifactory.domain.checks.scopes import run_in_scope
from aifactory.domain.conversations import SimulatorSource, single_exchange
from aifactory.domain.grading import grade, judge_usage
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase, TestResult
from aifactory.engine.agent_call import call_agent
from aifactory.engine.cache import ResponseCache, cache_key
from aifactory.engine.conversation_runner import ConversationRunner
from aifactory.errors import AgentError, CheckSpecError


@dataclass(slots=True)
class CaseRunnerOptions:
    """How each case is run."""

    timeout_s: float = 60.0
    """Time limit for the agent's reply."""
    retries: int = 1
    """Extra attempts after a transient agent failure (timeout, 429, 5xx, dropped connection)."""
    retry_backoff_s: float = 0.5
    allow_python: bool = True
    conversation_timeout_s: float = 600.0
    """Time limit for a whole conversation (each of its turns also has ``timeout_s``)."""


_MAX_BUILT = 1024


@dataclass(slots=True)
class CaseRunner:
    """Runs cases of one agent version."""

    agent: Agent
    ctx: CheckContext
    agent_key: str
    """Identifies the agent version for the response cache."""
    options: CaseRunnerOptions = field(default_factory=CaseRunnerOptions)
    cache: ResponseCache | None = None
    simulators: SimulatorSource | None = None
    """Gives the simulated user of conversation cases (None: such cases are errors)."""
    turn_gate: Callable[[], Awaitable[None]] | None = None
    """Awaited before each conversation turn after the first: the agent's rate limit (whoever
    runs the case acquires it once for the case itself)."""
    _built: dict[str, BuiltCheck] = field(default_factory=dict)
    _conversations: ConversationRunner | None = None

    def build_checks(self, case: TestCase) -> list[BuiltCheck]:
        """Validate a case's checks; raises :class:`CheckSpecError`.

        Cases mostly repeat the same few checks (a suite's defaults, a batch's cases read back
        from the store as new objects), so a built check is remembered by the spec's content:
        at most :data:`_MAX_BUILT` of them, however many cases this runner sees. (A
        conversation's turn checks are built when it runs.)
        """
        return self.build_specs(case.checks)

    def build_specs(self, specs: Sequence[CheckSpec]) -> list[BuiltCheck]:
        """Validate and build ``specs``, remembering each built check by its content."""
        built: list[BuiltCheck] = []
        for spec in specs:
            try:
                key = spec.model_dump_json()
            except PydanticSerializationError:  # a parameter only Python can hold: no reuse
                built.append(build_check(spec, allow_python=self.options.allow_python))
                continue
            check = self._built.get(key)
            if check is None:
                if len(self._built) >= _MAX_BUILT:
                    self._built.clear()
                check = build_check(spec, allow_python=self.options.allow_python)
                self._built[key] = check
            built.append(check)
        return built

    async def reply(self, case: TestCase, repeat_index: int) -> tuple[AgentReply, bool]:
        """The agent's reply to ``case`` and whether it came from the cache."""
        key = cache_key(self.agent_key, case, repeat_index) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, True
        reply = await call_agent(self.agent.respond, case, self.options)
        if self.cache is not None:
            self.cache.set(key, reply)
        return reply, False

    async def run(
        self,
        case: TestCase,
        *,
        case_index: int = 0,
        repeat_index: int = 0,
        checks: Sequence[BuiltCheck] | None = None,
    ) -> TestResult:
        """Run ``case`` and grade it; every failure becomes data in the result, never raised."""
        base = {
            "case_index": case_index,
            "repeat_index": repeat_index,
            "test_case": case,
        }
        try:
            built = list(checks) if checks is not None else self.build_checks(case)
            turn_checks = [self.build_specs(turn.checks) for turn in case.turns or ()]
        except CheckSpecError as exc:
            return TestResult(
                **base,
                status="error",
                passed=False,
                score=0.0,
                error=f"Invalid check: {exc}",
                feedback=str(exc),
                created_at=_now(),
            )
        if case.is_conversation:
            return await self.conversations().run(
                case, built, turn_checks, case_index=case_index, repeat_index=repeat_index
            )
        try:
            reply, cached = await self.reply(case, repeat_index)
        except AgentError as exc:
            return TestResult(
                **base,
                status="error",
                passed=False,
                score=0.0,
                error=str(exc) or type(exc).__name__,
                feedback=f"Agent error: {exc}",
                created_at=_now(),
            )
        results = await self._run_checks(built, reply, case)
        status, passed, score, feedback = grade(case, results)
        errors = [r.reason for r in results if r.status == "error"]
        return TestResult(
            **base,
            status=status,
            passed=passed,
            score=score,
            feedback=feedback,
            output=reply.output,
            checks=results,
            tool_calls=reply.tool_calls,
            latency_ms=reply.latency_ms,
            usage=reply.usage,
            judge_usage=judge_usage(results),
            error="; ".join(errors) if errors else None,
            cached=cached,
            created_at=_now(),
        )

    def conversations(self) -> ConversationRunner:
        """The runner of this agent's conversation cases (made on first use)."""
        if self._conversations is None:
            self._conversations = ConversationRunner(
                agent=self.agent,
                ctx=self.ctx,
                options=self.options,
                conversation_timeout_s=self.options.conversation_timeout_s,
                simulators=self.simulators,
                turn_gate=self.turn_gate,
            )
        return self._conversations

    async def _run_checks(
        self, built: Sequence[BuiltCheck], reply: AgentReply, case: TestCase
    ) -> list[CheckResult]:
        # CPU-only checks run in turn (a task each would cost more than the check);
        # checks that wait on a judge or a model run together.
        slow = [i for i, b in enumerate(built) if b.io_bound]
        if len(slow) <= 1:
            return [await self._check(b, reply, case) for b in built]
        results: list[CheckResult | None] = [None] * len(built)
        gathered = await asyncio.gather(*(self._check(built[i], reply, case) for i in slow))
        for i, result in zip(slow, gathered, strict=True):
            results[i] = result
        for i, b in enumerate(built):
            if results[i] is None:
                results[i] = await self._check(b, reply, case)
        return [r for r in results if r is not None]

    async def _check(self, built: BuiltCheck, reply: AgentReply, case: TestCase) -> CheckResult:
        if built.spec.scope == "conversation":
            # A single exchange read as a conversation: the input and the reply as text.
            return await run_in_scope(built, case, single_exchange(case, reply), self.ctx)
        return await run_check(built, reply, case, self.ctx)


def _now() -> datetime:
    return datetime.now(UTC)
