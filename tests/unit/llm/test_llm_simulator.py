"""The simulated user against the fake providers: structured turns, re-asking, errors, models."""

from __future__ import annotations

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, Status, fake_llm_settings, last_user_text

from aifactory.domain.models import SimulatedUser, TranscriptEntry
from aifactory.errors import SimulatorError
from aifactory.llm.factory import LLMClients
from aifactory.llm.simulator import LLMSimulator, LLMSimulators, simulator_model
from aifactory.settings import load_settings

pytest_plugins = ["tests.fakes.fixtures"]

USER = SimulatedUser(
    persona="A customer whose shoes arrived torn; short-tempered",
    goal="a refund for order A-1234",
)
SO_FAR = [
    TranscriptEntry(role="user", content="My shoes arrived torn!", turn=1),
    TranscriptEntry(role="assistant", content="Sorry! What is your order number?", turn=1),
]


async def test_the_next_message_comes_from_structured_output_over_anthropic(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(
        Reply(
            structured={"message": "It is A-1234.", "done": False, "outcome": None},
            input_tokens=400,
            output_tokens=20,
        )
    )

    turn = await simulator.next_turn(USER, SO_FAR)

    assert (turn.message, turn.done, turn.outcome) == ("It is A-1234.", False, None)
    assert turn.usage.input_tokens == 400 and turn.usage.cost_usd is not None
    sent = fake_llm.requests[0].json
    assert sent["tool_choice"] == {"type": "tool", "name": "user_turn"}
    assert sent["temperature"] > 0
    prompt = last_user_text(sent)
    assert USER.persona in prompt and "a refund for order A-1234" in prompt
    assert "you: My shoes arrived torn!" in prompt
    assert "assistant: Sorry! What is your order number?" in prompt


async def test_done_with_an_outcome_over_openai(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    simulator = LLMSimulator(llm_clients.get("openai"), "gpt-4.1-mini")
    fake_llm.script(
        Reply(structured={"message": "Thanks!", "done": True, "outcome": "goal_reached"})
    )

    turn = await simulator.next_turn(USER, SO_FAR)

    assert (turn.done, turn.outcome, turn.message) == (True, "goal_reached", "Thanks!")
    response_format = fake_llm.requests[0].json["response_format"]
    assert response_format["json_schema"]["strict"] is True


async def test_without_a_transcript_the_simulator_opens(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(Reply(structured={"message": "Hi", "done": False, "outcome": None}))

    await simulator.next_turn(USER, [])

    assert "write your first message" in last_user_text(fake_llm.requests[0].json)


async def test_the_checks_are_never_shown(llm_clients: LLMClients, fake_llm: FakeLLMServer) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(Reply(structured={"message": "ok", "done": False, "outcome": None}))
    checked = [
        *SO_FAR[:1],
        SO_FAR[1].model_copy(
            update={
                "checks": [
                    {
                        "type": "icontains",
                        "status": "passed",
                        "passed": True,
                        "score": 1.0,
                        "reason": "SECRET-CHECK-REASON",
                    }
                ]
            }
        ),
    ]

    await simulator.next_turn(USER, checked)

    sent = fake_llm.requests[0].json
    assert "SECRET-CHECK-REASON" not in str(sent) and "icontains" not in str(sent)


@pytest.mark.parametrize(
    "unusable",
    [
        {"message": "bye", "done": True, "outcome": None},
        {"message": "", "done": False, "outcome": None},
        {"message": "x", "done": "maybe", "outcome": None},
    ],
)
async def test_an_unusable_answer_is_asked_for_again(
    llm_clients: LLMClients, fake_llm: FakeLLMServer, unusable: dict[str, object]
) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(
        Reply(structured=unusable),
        Reply(structured={"message": "A-1234", "done": False, "outcome": None}),
    )

    turn = await simulator.next_turn(USER, SO_FAR)

    assert turn.message == "A-1234"
    assert "could not be used" in last_user_text(fake_llm.requests[1].json)


async def test_twice_unusable_is_a_simulator_error_with_its_usage(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5", label="sim")
    fake_llm.script(
        Reply(text="no JSON here", input_tokens=10), Reply(text="still", input_tokens=10)
    )

    with pytest.raises(SimulatorError, match=r"\(sim\) gave no usable answer twice") as caught:
        await simulator.next_turn(USER, SO_FAR)

    assert caught.value.usage.input_tokens == 20


async def test_a_provider_that_stays_down_is_a_simulator_error(
    llm_clients: LLMClients, fake_llm: FakeLLMServer
) -> None:
    simulator = LLMSimulator(llm_clients.get("anthropic"), "claude-haiku-4-5")
    fake_llm.script(*[Status(500)] * 3)

    with pytest.raises(SimulatorError, match="could not be reached"):
        await simulator.next_turn(USER, SO_FAR)


def test_the_model_is_the_cases_then_the_setting_then_the_judges() -> None:
    settings = load_settings({"AIFACTORY_JUDGE_MODEL": "anthropic:judge"})
    with_setting = load_settings(
        {"AIFACTORY_JUDGE_MODEL": "anthropic:judge", "AIFACTORY_SIMULATOR_MODEL": "openai:sim"}
    )

    assert simulator_model(settings) == "anthropic:judge"
    assert simulator_model(with_setting) == "openai:sim"
    assert simulator_model(with_setting, "anthropic:own") == "anthropic:own"


async def test_simulators_are_shared_per_model_and_refuse_unconfigured_providers(
    fake_llm: FakeLLMServer,
) -> None:
    settings = fake_llm_settings(fake_llm, openai_api_key=None, openai_base_url=None)
    async with LLMClients(settings) as clients:
        simulators = LLMSimulators(settings, clients)

        first = simulators.simulator(None)
        assert simulators.simulator(None) is first
        assert first.label == "anthropic:claude-haiku-4-5"
        with pytest.raises(SimulatorError, match="OPENAI_API_KEY"):
            simulators.simulator("openai:gpt-4.1-mini")
        with pytest.raises(SimulatorError, match="not known"):
            simulators.simulator("mystery:model")
