"""Conversations through the engine: scripted turns, simulated users, stops, limits, repeats."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from aifactory.agents.scripted import ScriptedAgent
from aifactory.domain.agent_config import ScriptedAgentConfig
from aifactory.domain.checks import CheckContext, JudgeRequest, JudgeVerdict
from aifactory.domain.conversations import SimulatorTurn
from aifactory.domain.models import (
    AgentReply,
    SimulatedUser,
    TestCase,
    TestResult,
    TranscriptEntry,
    Usage,
)
from aifactory.engine.case_runner import CaseRunner, CaseRunnerOptions
from aifactory.engine.runner import ListSink, RunOptions, run_cases
from aifactory.errors import AgentHTTPError, SimulatorError

DEMO = ScriptedAgentConfig.model_validate(
    {
        "responses": [
            {"match": "refund", "output": "Sure. What is your order number?", "turn": 1},
            {
                "match": "A-",
                "output": "Refund issued for your order.",
                "tool_calls": [{"name": "refund", "args": {"order": "A-1234"}}],
            },
            {"match": "thanks", "output": "You are welcome!"},
        ],
        "default": "Could you say that again?",
    }
)

REFUND = {
    "name": "refund needs the order number",
    "turns": [
        {"input": "I want a refund", "checks": [{"type": "icontains", "value": "order number"}]},
        {"input": "It is A-1234", "checks": [{"type": "contains", "value": "Refund"}]},
    ],
    "checks": [
        {"type": "tool_called", "name": "refund"},
        {"type": "not_contains", "value": "sorry", "scope": "each"},
        {"type": "turn_count", "max": 2},
    ],
}


class ScriptedSimulator:
    """Says its lines in order, then is done with ``outcome``; records what it was shown."""

    def __init__(
        self, lines: Sequence[str], outcome: str = "goal_reached", *, fail: bool = False
    ) -> None:
        self.lines = list(lines)
        self.outcome = outcome
        self.fail = fail
        self.seen: list[list[TranscriptEntry]] = []

    async def next_turn(
        self, user: SimulatedUser, transcript: Sequence[TranscriptEntry]
    ) -> SimulatorTurn:
        self.seen.append(list(transcript))
        usage = Usage(input_tokens=100, output_tokens=10, cost_usd=0.01)
        if self.fail:
            raise SimulatorError("The simulated user (sim) could not be reached: 500", usage=usage)
        if self.lines:
            return SimulatorTurn(message=self.lines.pop(0), done=False, usage=usage)
        return SimulatorTurn(message="bye", done=True, outcome=self.outcome, usage=usage)


class Source:
    def __init__(self, simulator: ScriptedSimulator) -> None:
        self.simulator_ = simulator
        self.models: list[str | None] = []

    def simulator(self, model: str | None) -> ScriptedSimulator:
        self.models.append(model)
        return self.simulator_


class GoalJudge:
    async def grade(self, request: JudgeRequest) -> JudgeVerdict:
        reached = "Refund issued" in (request.conversation or "")
        return JudgeVerdict(
            score=1.0 if reached else 0.0,
            passed=reached,
            reasoning="refunded" if reached else "no refund",
            usage=Usage(input_tokens=20, output_tokens=5, cost_usd=0.002),
        )


def runner(
    agent: Any = None, simulator: ScriptedSimulator | None = None, **options: Any
) -> CaseRunner:
    return CaseRunner(
        agent=agent or ScriptedAgent(DEMO),
        ctx=CheckContext(judge=GoalJudge()),
        agent_key="demo",
        options=CaseRunnerOptions(retry_backoff_s=0.0, **options),
        simulators=Source(simulator) if simulator is not None else None,
    )


async def run(case: dict[str, Any], **kwargs: Any) -> TestResult:
    return await runner(**kwargs).run(TestCase.model_validate(case))


async def test_scripted_turns_run_in_order_in_one_conversation() -> None:
    result = await run(REFUND)

    assert result.status == "passed", result.feedback
    assert result.stop_reason == "completed"
    assert result.turns == 2
    assert result.output == "Refund issued for your order."
    assert result.transcript is not None
    assert [(e.role, e.turn) for e in result.transcript] == [
        ("user", 1),
        ("assistant", 1),
        ("user", 2),
        ("assistant", 2),
    ]
    assert [c.type for c in result.transcript[1].checks] == ["icontains"]
    assert [c.type for c in result.transcript[3].checks] == ["contains"]
    assert [c.type for c in result.checks] == ["tool_called", "not_contains", "turn_count"]
    assert [c.name for c in result.tool_calls] == ["refund"]
    assert result.usage.cost_usd == 0.0


async def test_a_failing_turn_fails_the_conversation_and_names_the_turn() -> None:
    case = {**REFUND, "turns": [REFUND["turns"][0], {**REFUND["turns"][1], "input": "A?"}]}
    case["turns"][1] = {
        "input": "no idea",
        "checks": [{"type": "contains", "value": "Refund"}],
    }

    result = await run(case)

    assert result.status == "failed"
    assert "turn 2: output does not contain 'Refund'" in result.feedback
    assert result.transcript is not None
    assert not result.transcript[3].checks[0].passed


async def test_conversation_checks_on_a_turn_read_the_conversation_so_far() -> None:
    case = {
        "name": "so far",
        "turns": [
            {"input": "I want a refund", "checks": [{"type": "turn_count", "max": 1}]},
            {
                "input": "It is A-1234",
                "checks": [
                    {"type": "turn_count", "min": 2, "max": 2},
                    {"type": "tool_sequence", "names": ["refund"], "strict": True},
                ],
            },
        ],
    }

    result = await run(case)

    assert result.status == "passed", result.feedback
    assert result.transcript is not None
    assert [c.reason for c in result.transcript[3].checks] == [
        "the agent replied 2 times",
        "the tools called were exactly refund",
    ]


async def test_a_turn_rule_answers_only_at_its_turn() -> None:
    result = await run(
        {"name": "late refund", "turns": [{"input": "hello"}, {"input": "refund please"}]}
    )

    assert result.output == "Could you say that again?"


async def test_an_agent_error_ends_the_conversation() -> None:
    class FailsSecond:
        calls = 0

        async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
            self.calls += 1
            if self.calls == 2:
                raise AgentHTTPError("The agent answered HTTP 400: 'bad'.", status=400)
            return AgentReply(output="Sure. What is your order number?")

        async def aclose(self) -> None:
            return None

    result = await run(REFUND, agent=FailsSecond())

    assert result.status == "error"
    assert result.stop_reason == "agent_error"
    assert result.error is not None and result.error.startswith("Turn 2:")
    assert result.turns == 1
    assert result.transcript is not None and len(result.transcript) == 3
    assert result.checks == []


async def test_turns_have_a_time_limit_and_the_conversation_its_own() -> None:
    slow = ScriptedAgent(ScriptedAgentConfig(default="zzz", latency_ms=50))

    per_turn = await run(REFUND, agent=slow, timeout_s=0.01, retries=0)
    whole = await run(REFUND, agent=slow, conversation_timeout_s=0.08)

    assert per_turn.stop_reason == "agent_error" and "did not answer" in (per_turn.error or "")
    assert whole.status == "error" and "ran past its limit of 0.08 s" in (whole.error or "")
    assert whole.turns == 1


SIMULATED = {
    "name": "upset customer gets a refund",
    "simulated_user": {
        "persona": "A customer whose shoes arrived torn",
        "goal": "a refund for order A-1234",
        "first_message": "My shoes arrived torn, I want a refund!",
        "max_turns": 4,
        "model": "anthropic:claude-haiku-4-5",
    },
    "checks": [{"type": "goal_completed"}, {"type": "turn_count", "max": 3}],
}


async def test_a_simulated_user_talks_until_its_goal_is_reached() -> None:
    simulator = ScriptedSimulator(["It is A-1234"])
    case_runner = runner(simulator=simulator)

    result = await case_runner.run(TestCase.model_validate(SIMULATED))

    assert result.status == "passed", result.feedback
    assert result.stop_reason == "goal_reached"
    assert result.turns == 2
    assert result.transcript is not None
    assert [e.content for e in result.transcript] == [
        "My shoes arrived torn, I want a refund!",
        "Sure. What is your order number?",
        "It is A-1234",
        "Refund issued for your order.",
        "bye",
    ]
    assert result.simulator_usage == Usage(input_tokens=200, output_tokens=20, cost_usd=0.02)
    assert result.judge_usage.input_tokens == 20
    assert len(simulator.seen) == 2 and len(simulator.seen[1]) == 4
    assert isinstance(case_runner.simulators, Source)
    assert case_runner.simulators.models == ["anthropic:claude-haiku-4-5"]


async def test_the_simulator_opens_without_a_first_message() -> None:
    user = {k: v for k, v in SIMULATED["simulated_user"].items() if k != "first_message"}
    simulator = ScriptedSimulator(["I want a refund", "A-1234"], outcome="gave_up")

    result = await run({**SIMULATED, "simulated_user": user}, simulator=simulator)

    assert result.stop_reason == "gave_up"
    assert simulator.seen[0] == []
    assert result.transcript is not None and result.transcript[0].content == "I want a refund"


async def test_max_turns_ends_a_simulated_conversation() -> None:
    simulator = ScriptedSimulator(["what?"] * 10)

    result = await run(SIMULATED, simulator=simulator)

    assert result.stop_reason == "max_turns"
    assert result.turns == 4
    assert result.status == "failed"  # turn_count max 3


async def test_a_simulator_that_fails_is_an_error_with_its_usage() -> None:
    result = await run(SIMULATED, simulator=ScriptedSimulator([], fail=True))

    assert result.status == "error"
    assert result.stop_reason is None
    assert "could not be reached" in (result.error or "")
    assert result.simulator_usage.input_tokens == 100
    assert result.turns == 1


async def test_no_simulator_configured_is_an_error() -> None:
    result = await run(SIMULATED)

    assert result.status == "error" and "No simulated user is configured" in (result.error or "")


async def test_an_invalid_turn_check_is_an_error_result() -> None:
    case = {"name": "bad", "turns": [{"input": "x", "checks": [{"type": "contans"}]}]}

    result = await run(case)

    assert result.status == "error" and "contans" in (result.error or "")


async def test_a_single_case_check_in_conversation_scope_reads_the_exchange() -> None:
    result = await run(
        {
            "name": "one",
            "input": "refund",
            "checks": [{"type": "icontains", "value": "user: refund", "scope": "conversation"}],
        }
    )

    assert result.passed and result.transcript is None and result.turns is None


async def test_conversations_run_concurrently_turns_in_order_and_repeats_count_whole() -> None:
    class Slow:
        def __init__(self) -> None:
            self.in_flight = 0
            self.peak = 0

        async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(0.005)
            self.in_flight -= 1
            said = [m.content for m in case.messages() if m.role == "user"]
            return AgentReply(output=" / ".join(said), usage=Usage(cost_usd=0.0))

        async def aclose(self) -> None:
            return None

    agent = Slow()
    cases = [
        TestCase(
            name=f"c{i}",
            turns=[
                {"input": f"{i}-a"},
                {"input": f"{i}-b", "checks": [{"type": "contains", "value": f"{i}-a / {i}-b"}]},
            ],
        )
        for i in range(6)
    ]
    sink = ListSink()

    summary = await run_cases(
        cases, runner(agent=agent), sink, options=RunOptions(concurrency=3, repeat=2)
    )

    assert agent.peak == 3
    assert summary.completed == 12 and summary.passed == 12
    assert summary.pass_at_k == {"1": 1.0, "2": 1.0}
    assert summary.conversations is not None
    assert summary.conversations.total == 12
    assert summary.conversations.by_turn["2"].pass_rate == 1.0
    assert summary.conversations.stop_reasons == {"completed": 12}


async def test_simulated_repeats_give_flakiness_turns_to_goal_and_simulator_cost() -> None:
    class Alternating:
        def __init__(self) -> None:
            self.runs = 0

        def simulator(self, model: str | None) -> ScriptedSimulator:
            self.runs += 1
            if self.runs % 2:
                return ScriptedSimulator(["It is A-1234"])
            return ScriptedSimulator(["what?", "what?"], outcome="gave_up")

    case_runner = runner()
    case_runner.simulators = Alternating()
    sink = ListSink()

    summary = await run_cases(
        [TestCase.model_validate(SIMULATED)],
        case_runner,
        sink,
        options=RunOptions(concurrency=1, repeat=4),
    )

    assert summary.flaky_cases == ["upset customer gets a refund"]
    assert summary.pass_at_k["1"] == pytest.approx(0.5)
    conversations = summary.conversations
    assert conversations is not None
    assert (conversations.simulated, conversations.goal_reached) == (4, 2)
    assert conversations.mean_turns_to_goal == 2.0
    assert conversations.turns_to_goal_ci is not None
    assert conversations.stop_reasons == {"gave_up": 2, "goal_reached": 2}
    assert summary.simulator_usage.input_tokens == 1000
    assert summary.cost_usd == pytest.approx(0.1 + 4 * 0.002)


async def test_the_simulators_cost_counts_against_the_budget() -> None:
    sink = ListSink()
    summary = await run_cases(
        [TestCase.model_validate({**SIMULATED, "name": f"s{i}"}) for i in range(5)],
        runner(simulator=ScriptedSimulator(["It is A-1234"] * 10)),
        sink,
        options=RunOptions(concurrency=1, budget_usd=0.05),
    )

    assert summary.stopped_reason == "budget"
    assert summary.completed < 5


async def test_every_turn_of_a_conversation_waits_for_the_agents_rate_limit() -> None:
    class CountingLimiter:
        def __init__(self) -> None:
            self.acquired = 0

        async def acquire(self) -> None:
            self.acquired += 1

    three_turns = {
        "name": "three turns",
        "turns": [{"input": "I want a refund"}, {"input": "It is A-1234"}, {"input": "thanks"}],
    }
    limiter = CountingLimiter()

    summary = await run_cases(
        [TestCase.model_validate(three_turns), TestCase(name="single", input="refund")],
        runner(),
        ListSink(),
        limiter=limiter,
    )

    assert summary.completed == 2
    # One token per request to the agent: three turns and one single case.
    assert limiter.acquired == 4
