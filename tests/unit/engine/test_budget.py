"""Which models a budget needs prices for, and the refusal that names them."""

from __future__ import annotations

import pytest

from aifactory.domain.models import AgentSpec, CheckSpec, TestCase
from aifactory.engine.budget import (
    Spender,
    UnpricedBudget,
    agent_spender,
    require_prices,
    require_run_prices,
    uses_judge,
)
from aifactory.errors import ConfigError
from aifactory.llm.pricing import PriceTable, parse_prices
from aifactory.settings import load_settings


def case(*types: str) -> TestCase:
    return TestCase(name="c", input="q", checks=[CheckSpec(type=t) for t in types])


def test_model_graded_checks_and_their_negations_call_the_judge() -> None:
    assert uses_judge([case("contains"), case("llm_rubric")])
    assert uses_judge([case("not_factuality")])
    assert not uses_judge([case("contains", "similarity", "not_contains"), case()])
    assert not uses_judge([case("no_such_check")])  # refused elsewhere, not here


def test_only_llm_agents_are_priced_by_model() -> None:
    llm = AgentSpec(id="bot", kind="llm", config={"provider": "openai", "model": "gpt-4o-mini"})
    assert agent_spender(llm) == Spender(
        "the agent", "openai:gpt-4o-mini", "agent 'bot' config.model"
    )
    assert agent_spender(AgentSpec(kind="scripted", config={})) is None
    assert agent_spender(AgentSpec(kind="http", config={"url": "https://a.example"})) is None


def test_dated_and_prefixed_names_take_their_prices_and_unknown_ones_are_named() -> None:
    prices = PriceTable({**parse_prices({"llama3:8b": {"input": 0, "output": 0}})})
    require_prices(
        [Spender("the agent", "openai:llama3:8b", "x"), None], prices, budget="budget_usd"
    )
    table = PriceTable()
    require_prices([Spender("the judge", "claude-haiku-4-5-20251001", "x")], table, budget="b")
    with pytest.raises(UnpricedBudget) as refused:
        require_prices(
            [
                Spender("the agent", "openai:house-7b", "agent 'bot' config.model"),
                Spender("the judge", "claude-haiku-4-5", "AIFACTORY_JUDGE_MODEL"),
                Spender("the reflector", "anthropic:house-reflector", "reflector_model"),
            ],
            table,
            budget="budget_usd",
        )
    assert isinstance(refused.value, ConfigError)  # exit 2 on the command line
    assert [s.model for s in refused.value.missing] == [
        "openai:house-7b",
        "anthropic:house-reflector",
    ]
    message = str(refused.value)
    assert "budget_usd cannot be kept" in message and "AIFACTORY_PRICES" in message
    assert "'openai:house-7b' (from agent 'bot' config.model)" in message
    assert "'anthropic:house-reflector' (from reflector_model)" in message
    assert '{"house-7b": {"input": 1.0, "output": 5.0}}' in message


def test_the_cases_are_read_only_when_the_judge_has_no_price() -> None:
    scripted = AgentSpec(kind="scripted", config={})
    read: list[bool] = []

    def cases() -> list[TestCase]:
        read.append(True)
        return [case("llm_rubric")]

    priced = load_settings({"AIFACTORY_JUDGE_MODEL": "anthropic:claude-haiku-4-5"})
    require_run_prices(priced, scripted, cases, budget="--budget-usd")
    assert read == []
    unpriced = load_settings({"AIFACTORY_JUDGE_MODEL": "openai:house-judge"})
    with pytest.raises(UnpricedBudget, match="house-judge"):
        require_run_prices(unpriced, scripted, cases, budget="--budget-usd")
    assert read == [True]


def test_conversation_checks_that_call_the_judge_count_even_on_turns() -> None:
    on_a_turn = TestCase.model_validate(
        {"name": "t", "turns": [{"input": "a", "checks": [{"type": "llm_rubric", "rubric": "r"}]}]}
    )

    assert uses_judge([case("goal_completed")])
    assert uses_judge([on_a_turn])


def test_a_simulated_users_model_needs_a_price() -> None:
    scripted = AgentSpec(kind="scripted", config={})
    simulated = TestCase.model_validate(
        {"name": "s", "simulated_user": {"persona": "p", "model": "openai:house-sim"}}
    )
    unpriced_default = load_settings(
        {
            "AIFACTORY_JUDGE_MODEL": "anthropic:claude-haiku-4-5",
            "AIFACTORY_SIMULATOR_MODEL": "openai:house-default",
        }
    )

    with pytest.raises(UnpricedBudget) as refused:
        require_run_prices(unpriced_default, scripted, lambda: [simulated], budget="--budget-usd")
    assert "the simulated user's model 'openai:house-sim' (from simulated_user.model)" in str(
        refused.value
    )
    plain = TestCase.model_validate({"name": "s", "simulated_user": {"persona": "p"}})
    with pytest.raises(UnpricedBudget, match="AIFACTORY_SIMULATOR_MODEL"):
        require_run_prices(unpriced_default, scripted, lambda: [plain], budget="--budget-usd")
