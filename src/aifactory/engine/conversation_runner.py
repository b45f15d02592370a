"""Runs a conversation case: its turns in order, in one session, then the case's checks.

Scripted ``turns`` are sent one after another; each reply is judged by its turn's checks as it
comes. With a ``simulated_user`` the simulator (never shown the checks) opens unless the case
gives a first message, and answers every reply until it is done (``goal_reached`` or
``gave_up``) or the agent has replied ``max_turns`` times. An agent error ends the conversation
(``agent_error``). Every turn has the case's time limit (with its retries); the whole
conversation has its own limit. Then the case-level checks run in their scopes
(:mod:`aifactory.domain.checks.scopes`) and the conversation is graded as one case.

Nothing of a conversation is cached: a turn's reply depends on the session's state, and a
simulated conversation is meant to vary between repeats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aifactory.agents.base import Agent, AgentSession, open_session
from aifactory.domain.checks import BuiltCheck, CheckContext, run_check
from aifactory.domain.checks.scopes import run_in_scope
from aifactory.domain.conversations import (
    SimulatorSource,
    SimulatorTurn,
    UserSimulator,
    bound,
)
from aifactory.domain.grading import grade, judge_usage
from aifactory.domain.models import (
    AgentReply,
    CheckResult,
    CheckSpec,
    Message,
    SimulatedUser,
    StopReason,
    TestCase,
    TestResult,
    ToolCall,
    TranscriptEntry,
    Usage,
)
from aifactory.engine.agent_call import CallOptions, call_agent
from aifactory.errors import AgentError, SimulatorError


class _Stop(Exception):
    """Ends a conversation early: an agent or simulator error, or the conversation's limit."""

    def __init__(self, message: str, stop_reason: StopReason | None) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason


@dataclass(slots=True)
class _Talk:
    """A conversation in progress."""

    case: TestCase
    session: AgentSession
    entries: list[TranscriptEntry] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    turn_results: list[CheckResult] = field(default_factory=list)
    simulator_usage: Usage = field(default_factory=Usage)
    replies: int = 0
    waiting_on_agent: bool = False

    def said(self, text: str, turn: int) -> None:
        self.history.append(Message(role="user", content=text))
        self.entries.append(TranscriptEntry(role="user", content=text, turn=turn))

    def turn_case(self, specs: list[CheckSpec]) -> TestCase:
        return self.case.model_copy(
            update={
                "input": list(self.history),
                "turns": None,
                "simulated_user": None,
                "checks": specs,
            }
        )


@dataclass(slots=True)
class ConversationRunner:
    """Runs the conversation cases of one agent version.

    Args:
        agent: the agent under test; each conversation opens its own session.
        ctx: what checks may use (the judge).
        options: the per-turn time limit and retries.
        conversation_timeout_s: the whole conversation's time limit.
        simulators: gives the simulated user for a case's model; None when none is configured.
        turn_gate: awaited before each agent turn after the first (the agent's rate limit: the
            case took its token for the first turn, each later turn is another request).
    """

    agent: Agent
    ctx: CheckContext
    options: CallOptions
    conversation_timeout_s: float
    simulators: SimulatorSource | None = None
    turn_gate: Callable[[], Awaitable[None]] | None = None

    async def run(
        self,
        case: TestCase,
        built: Sequence[BuiltCheck],
        turn_checks: Sequence[list[BuiltCheck]] = (),
        *,
        case_index: int = 0,
        repeat_index: int = 0,
    ) -> TestResult:
        """Hold the conversation and grade it; every failure becomes data in the result.

        Args:
            case: a case with ``turns`` or a ``simulated_user``.
            built: the case's checks, built.
            turn_checks: each scripted turn's checks, built (in turn order).
        """
        base: dict[str, Any] = {
            "case_index": case_index,
            "repeat_index": repeat_index,
            "test_case": case,
        }
        talk = _Talk(case, open_session(self.agent, str(uuid.uuid4())))
        error: _Stop | None = None
        stop: StopReason | None = None
        try:
            async with asyncio.timeout(self.conversation_timeout_s):
                if case.turns is not None:
                    stop = await self._scripted(talk, turn_checks)
                else:
                    assert case.simulated_user is not None
                    stop = await self._simulated(talk, case.simulated_user)
        except TimeoutError:
            error = _Stop(
                f"The conversation ran past its limit of {self.conversation_timeout_s:g} s "
                f"after {talk.replies} agent replies.",
                "agent_error" if talk.waiting_on_agent else None,
            )
        except _Stop as stopped:
            error = stopped
        finally:
            await talk.session.aclose()
        if error is not None:
            return self._errored(base, talk, error)
        case_results = await self._case_checks(built, case, talk.entries)
        return self._graded(base, talk, case_results, stop)

    # -- the two kinds of conversation -------------------------------------------------------

    async def _scripted(self, talk: _Talk, turn_checks: Sequence[list[BuiltCheck]]) -> StopReason:
        turns = talk.case.turns
        assert turns is not None
        for number, turn in enumerate(turns, 1):
            built = turn_checks[number - 1] if number <= len(turn_checks) else []
            talk.said(turn.input, number)
            await self._agent_turn(talk, number, turn.checks, built)
        return "completed"

    async def _simulated(self, talk: _Talk, user: SimulatedUser) -> StopReason:
        simulator = self._simulator(user)
        number = 1
        message = user.first_message
        if message is None:
            opening = await self._ask(simulator, user, talk)
            if opening.done:
                return "goal_reached" if opening.outcome == "goal_reached" else "gave_up"
            message = opening.message
        while True:
            talk.said(message, number)
            await self._agent_turn(talk, number, [], [])
            following = await self._ask(simulator, user, talk)
            if following.done:
                if following.message:
                    talk.entries.append(
                        TranscriptEntry(role="user", content=following.message, turn=number + 1)
                    )
                return "goal_reached" if following.outcome == "goal_reached" else "gave_up"
            if talk.replies >= user.max_turns:
                return "max_turns"
            message = following.message
            number += 1

    # -- steps -------------------------------------------------------------------------------

    def _simulator(self, user: SimulatedUser) -> UserSimulator:
        if self.simulators is None:
            raise _Stop(
                "No simulated user is configured: set ANTHROPIC_API_KEY (or the key of the "
                "provider of AIFACTORY_SIMULATOR_MODEL) to run cases with a simulated_user.",
                None,
            )
        try:
            return self.simulators.simulator(user.model)
        except SimulatorError as exc:
            raise _Stop(str(exc), None) from exc

    async def _ask(
        self, simulator: UserSimulator, user: SimulatedUser, talk: _Talk
    ) -> SimulatorTurn:
        try:
            turn = await simulator.next_turn(user, talk.entries)
        except SimulatorError as exc:
            if isinstance(exc.usage, Usage):
                talk.simulator_usage = talk.simulator_usage + exc.usage
            raise _Stop(str(exc), None) from exc
        talk.simulator_usage = talk.simulator_usage + turn.usage
        return turn

    async def _agent_turn(
        self, talk: _Talk, number: int, specs: list[CheckSpec], built: list[BuiltCheck]
    ) -> None:
        turn_case = talk.turn_case(specs)
        if number > 1 and self.turn_gate is not None:
            await self.turn_gate()
        talk.waiting_on_agent = True
        try:
            reply = await call_agent(talk.session.respond, turn_case, self.options)
        except AgentError as exc:
            raise _Stop(f"Turn {number}: {exc or type(exc).__name__}", "agent_error") from exc
        finally:
            talk.waiting_on_agent = False
        talk.replies += 1
        talk.history.append(Message(role="assistant", content=reply.output))
        fields: dict[str, Any] = {
            "role": "assistant",
            "content": reply.output,
            "turn": number,
            "tool_calls": list(reply.tool_calls),
            "latency_ms": reply.latency_ms,
            "usage": reply.usage,
        }
        if built:
            results = await self._turn_checks(built, reply, turn_case, talk.entries, fields)
            fields["checks"] = results
            # Grading names the turn of what did not pass (only those reasons are shown).
            talk.turn_results.extend(
                r if r.passed else r.model_copy(update={"reason": f"turn {number}: {r.reason}"})
                for r in results
            )
        talk.entries.append(TranscriptEntry(**fields))

    async def _turn_checks(
        self,
        built: list[BuiltCheck],
        reply: AgentReply,
        case: TestCase,
        before: list[TranscriptEntry],
        reply_fields: dict[str, Any],
    ) -> list[CheckResult]:
        ctx = self.ctx
        whole = ctx
        if any(b.whole_conversation for b in built):
            # Conversation checks of a turn read the conversation so far, this reply included.
            so_far = [*before, TranscriptEntry(**reply_fields)]
            whole = dataclasses.replace(ctx, transcript=so_far)
        if sum(1 for b in built if b.io_bound) <= 1:
            return [
                await run_check(b, reply, case, whole if b.whole_conversation else ctx)
                for b in built
            ]
        return list(
            await asyncio.gather(
                *(run_check(b, reply, case, whole if b.whole_conversation else ctx) for b in built)
            )
        )

    async def _case_checks(
        self, built: Sequence[BuiltCheck], case: TestCase, entries: list[TranscriptEntry]
    ) -> list[CheckResult]:
        if sum(1 for b in built if b.io_bound) <= 1:
            return [await run_in_scope(b, case, entries, self.ctx) for b in built]
        return list(
            await asyncio.gather(*(run_in_scope(b, case, entries, self.ctx) for b in built))
        )

    # -- the result --------------------------------------------------------------------------

    def _common(self, talk: _Talk) -> dict[str, Any]:
        usage = Usage()
        latency = 0.0
        calls: list[ToolCall] = []
        last: str | None = None
        for entry in talk.entries:
            if entry.role != "assistant":
                continue
            last = entry.content
            calls.extend(entry.tool_calls)
            latency += entry.latency_ms or 0.0
            if entry.usage is not None:
                usage = usage + entry.usage
        return {
            "output": last,
            "tool_calls": calls,
            "latency_ms": latency if talk.replies else None,
            "usage": usage,
            "transcript": bound(talk.entries),
            "turns": talk.replies,
            "simulator_usage": talk.simulator_usage,
            "created_at": datetime.now(UTC),
        }

    def _graded(
        self,
        base: dict[str, Any],
        talk: _Talk,
        case_results: list[CheckResult],
        stop: StopReason | None,
    ) -> TestResult:
        every = [*talk.turn_results, *case_results]
        status, passed, score, feedback = grade(talk.case, every)
        errors = [r.reason for r in every if r.status == "error"]
        return TestResult(
            **base,
            **self._common(talk),
            status=status,
            passed=passed,
            score=score,
            feedback=feedback,
            checks=case_results,
            judge_usage=judge_usage(every),
            error="; ".join(errors) if errors else None,
            stop_reason=stop,
        )

    def _errored(self, base: dict[str, Any], talk: _Talk, error: _Stop) -> TestResult:
        message = str(error)
        feedback = f"Agent error: {message}" if error.stop_reason == "agent_error" else message
        return TestResult(
            **base,
            **self._common(talk),
            status="error",
            passed=False,
            score=0.0,
            feedback=feedback,
            judge_usage=judge_usage(talk.turn_results),
            error=message,
            stop_reason=error.stop_reason,
        )
