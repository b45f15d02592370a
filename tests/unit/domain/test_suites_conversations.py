"""Suite files with conversation cases: native YAML, JSON and JSONL, and promptfoo's simulated
users (promptfoo's own tau-simulated-user example, trimmed)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aifactory.domain.suites import load_suite, parse_suite
from aifactory.errors import SuiteError

TAU = Path(__file__).resolve().parents[2] / "fixtures" / "promptfoo" / "conversations"

NATIVE = """
name: support
test_cases:
  - name: refund needs the order number
    turns:
      - input: I want a refund
        checks: [{type: icontains, value: order number}]
      - input: It is A-1234
        checks: [{type: contains, value: refund}]
    checks:
      - {type: llm_rubric, rubric: Stays polite throughout, scope: conversation}
  - name: upset customer gets a refund
    simulated_user:
      persona: A customer whose shoes arrived torn; short-tempered
      goal: a refund for order A-1234
      first_message: My shoes arrived torn!
      max_turns: 8
      model: anthropic:claude-sonnet-4-6
    checks: [{type: goal_completed}, {type: turn_count, max: 6}]
  - name: plain
    input: hello
"""


def test_native_yaml_reads_turns_simulated_users_and_scopes() -> None:
    suite = parse_suite(NATIVE, filename="support.yaml")

    scripted, simulated, plain = suite.test_cases
    assert scripted.turns is not None and len(scripted.turns) == 2
    assert scripted.turns[0].checks[0].params == {"value": "order number"}
    assert scripted.checks[0].scope == "conversation"
    assert simulated.simulated_user is not None
    assert simulated.simulated_user.first_message == "My shoes arrived torn!"
    assert simulated.simulated_user.model == "anthropic:claude-sonnet-4-6"
    assert [c.type for c in simulated.checks] == ["goal_completed", "turn_count"]
    assert plain.input == "hello" and not plain.is_conversation


def test_json_and_jsonl_read_the_same_fields() -> None:
    case = {
        "name": "two turns",
        "turns": [{"input": "a"}, {"input": "b", "checks": [{"type": "contains", "value": "b"}]}],
        "checks": [{"type": "not_contains", "value": "sorry", "scope": "each"}],
    }

    from_json = parse_suite(json.dumps({"test_cases": [case]}), filename="s.json")
    from_jsonl = parse_suite(json.dumps(case) + "\n", filename="s.jsonl")

    assert from_json.test_cases == from_jsonl.test_cases
    assert from_json.test_cases[0].checks[0].scope == "each"


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("{name: a, input: x, turns: [{input: y}]}", "test_cases[0]", "exactly one of"),
        ("{name: a}", "test_cases[0].input", "required"),
        (
            "{name: a, input: x, checks: [{type: contains, value: x, scope: all}]}",
            "test_cases[0].checks[0].scope",
            "'each'",
        ),
        (
            "{name: a, turns: [{input: y, checks: [{type: contans}]}]}",
            "test_cases[0].turns[0].checks[0].type",
            "contans",
        ),
        (
            "{name: a, simulated_user: {persona: p, max_turns: 0}}",
            "test_cases[0].simulated_user.max_turns",
            "greater than or equal to 1",
        ),
        (
            "{name: a, turns: [{input: y}], checks: [{type: turn_count, max: 1, scope: each}]}",
            "test_cases[0].checks[0].scope",
            "scope 'each' does not apply",
        ),
    ],
)
def test_a_bad_conversation_case_names_the_case_and_the_field(
    case: str, field: str, message: str
) -> None:
    with pytest.raises(SuiteError, match=message) as caught:
        parse_suite(f"test_cases:\n  - {case}\n", filename="s.yaml")

    assert caught.value.case == "a"
    assert caught.value.field == field


def test_promptfoos_tau_example_maps_to_simulated_users() -> None:
    suite = load_suite(TAU / "tau-simulated-user.yaml")

    assert suite.name == "Airline Agent Testing with 31 Customer Personas"
    assert len(suite.test_cases) == 7
    assert [c.name for c in suite.test_cases[:2]] == [
        "Budget traveler booking flight",
        "Business traveler booking urgently",
    ]
    assert [c.name for c in suite.test_cases[5:]] == ["test 6", "test 7"]
    first = suite.test_cases[0]
    assert first.simulated_user is not None
    assert first.simulated_user.persona.startswith("You are mia_li_3668. You want to fly")
    assert first.simulated_user.max_turns == 10
    assert first.simulated_user.goal is None and first.simulated_user.first_message is None
    assert first.input is None and first.turns is None
    (check,) = first.checks
    assert check.type == "llm_rubric" and check.scope == "conversation"
    assert "Did the budget traveler get what they wanted?" in check.params["rubric"]
    assert suite.test_cases[6].checks == []
    assert any("'providers' are ignored" in w for w in suite.warnings)
    assert any(
        "prompts of promptfoo:simulated-user tests are not sent" in w for w in suite.warnings
    )


def pf(text: str) -> list[dict[str, object]]:
    suite = parse_suite(textwrap.dedent(text), filename="promptfooconfig.yaml")
    return [c.model_dump(mode="json") for c in suite.test_cases]


def test_a_tests_own_simulated_user_provider_takes_its_instructions_from_the_config() -> None:
    (case,) = pf(
        """
        tests:
          - description: mia
            vars: {city: Seattle}
            provider:
              id: promptfoo:simulated-user
              config:
                maxTurns: 4
                instructions: You want to fly to {{city}}.
            assert:
              - type: icontains
                value: seattle
        """
    )

    assert case["simulated_user"] == {
        "persona": "You want to fly to Seattle.",
        "goal": None,
        "first_message": None,
        "max_turns": 4,
        "model": None,
    }
    assert case["checks"] == [
        {
            "type": "icontains",
            "weight": 1.0,
            "negate": False,
            "scope": "conversation",
            "value": "seattle",
        }
    ]


def test_a_tests_own_provider_overrides_the_default_simulated_user() -> None:
    plain, simulated = pf(
        """
        defaultTest:
          provider: promptfoo:simulated-user
        tests:
          - vars: {input: hi}
            provider: openai:gpt-4.1-mini
          - vars: {instructions: You want a refund.}
        """
    )

    assert plain["input"] == "hi" and "simulated_user" not in plain
    assert simulated["simulated_user"]["persona"] == "You want a refund."
    assert simulated["simulated_user"]["max_turns"] == 8


def test_a_simulated_user_without_instructions_refuses_the_file() -> None:
    with pytest.raises(SuiteError, match="needs 'instructions'") as caught:
        pf(
            """
            tests:
              - description: nobody
                provider: promptfoo:simulated-user
            """
        )

    assert caught.value.case == "nobody"
