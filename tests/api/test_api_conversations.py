"""Conversation cases over the API: scripted turns and simulated users in /test/run, batches and
suites; results carry their transcript, turns and stop reason, read back from the store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.fakes.fake_llm import FakeLLMServer, Reply, last_user_text
from tests.fakes.service import Service

from aifactory.client import APIStatusError

pytest_plugins = ["tests.fakes.fixtures"]

AGENT = {
    "id": "support-bot",
    "kind": "scripted",
    "config": {
        "responses": [
            {"match": "refund", "turn": 1, "output": "Sure. What is your order number?"},
            {
                "match": r"A-\d+",
                "regex": True,
                "turn": 2,
                "output": "Thanks, your refund is on its way.",
                "tool_calls": [
                    {"name": "lookup_order", "args": {"id": "A-1234"}},
                    {"name": "refund", "args": {"id": "A-1234"}},
                ],
            },
        ],
        "default": "I can only help with refunds.",
    },
}

SCRIPTED = {
    "name": "refund needs the order number",
    "turns": [
        {"input": "I want a refund", "checks": [{"type": "icontains", "value": "order number"}]},
        {"input": "It is A-1234", "checks": [{"type": "contains", "value": "refund"}]},
    ],
    "checks": [
        {"type": "tool_sequence", "names": ["lookup_order", "refund"]},
        {"type": "turn_count", "max": 2},
        {"type": "icontains", "value": "only help", "negate": True, "scope": "each"},
    ],
}

SIMULATED = {
    "name": "a customer gets a refund",
    "simulated_user": {
        "persona": "A customer whose shoes arrived torn",
        "goal": "a refund for order A-1234",
        "first_message": "I want a refund",
        "max_turns": 4,
    },
    "checks": [{"type": "goal_completed"}, {"type": "turn_count", "max": 2}],
}


def responder(body: dict[str, Any]) -> Reply:
    """The simulated user gives its order number when asked, then is done; the judge passes a
    conversation in which the refund was given."""
    prompt = last_user_text(body)
    if "You play the user" in str(body.get("system")):
        if "refund is on its way" in prompt:
            return Reply(structured={"message": "Thanks!", "done": True, "outcome": "goal_reached"})
        return Reply(structured={"message": "It is A-1234", "done": False, "outcome": None})
    given = "refund is on its way" in prompt
    return Reply(structured={"reasoning": "checked", "score": float(given), "pass": given})


@pytest.fixture
def service_env(fake_llm: FakeLLMServer) -> dict[str, Any]:
    fake_llm.responder = responder
    return {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake_llm.anthropic_base_url,
        "AIFACTORY_JUDGE_MODEL": "anthropic:claude-haiku-4-5",
        "AIFACTORY_LLM_BACKOFF_S": "0.01",
    }


async def test_a_scripted_conversation_answers_its_transcript_and_keeps_it(
    service: Service,
) -> None:
    await service.client.create_agent(AGENT)
    result = await service.client.run_test(SCRIPTED, agent_id="support-bot")

    assert result.status == "passed", result.feedback
    assert (result.turns, result.stop_reason) == (2, "completed")
    assert result.output == "Thanks, your refund is on its way."
    assert result.transcript is not None
    assert [(e.role, e.turn) for e in result.transcript] == [
        ("user", 1),
        ("assistant", 1),
        ("user", 2),
        ("assistant", 2),
    ]
    assert [c.type for c in result.transcript[1].checks] == ["icontains"]
    assert [c.type for c in result.transcript[3].checks] == ["contains"]
    assert [c.type for c in result.checks] == ["tool_sequence", "turn_count", "icontains"]
    assert [t.name for t in result.tool_calls] == ["lookup_order", "refund"]

    # Read back from the store as it was answered.
    stored = (await service.client.agent_results("support-bot")).items[0]
    assert stored.id == result.id
    assert stored.transcript == result.transcript
    assert (stored.turns, stored.stop_reason) == (2, "completed")
    assert stored.test_case.turns is not None and len(stored.test_case.turns) == 2


async def test_a_failing_turn_is_shown_in_its_transcript_entry(service: Service) -> None:
    await service.client.create_agent(AGENT)
    first = {"input": "I want a refund", "checks": [{"type": "icontains", "value": "order number"}]}
    second = {"input": "no idea", "checks": [{"type": "contains", "value": "on its way"}]}
    case = {**SCRIPTED, "turns": [first, second]}
    result = await service.client.run_test(case, agent_id="support-bot")

    assert result.status == "failed"
    assert result.transcript is not None
    assert result.transcript[1].checks[0].passed
    assert not result.transcript[3].checks[0].passed
    assert "turn 2" in result.feedback


async def test_a_batch_mixes_conversations_and_single_cases(service: Service) -> None:
    await service.client.create_agent(AGENT)
    single = {
        "name": "one message",
        "input": "refund",
        "checks": [{"type": "contains", "value": "order"}],
    }
    accepted = await service.client.submit_batch(
        "support-bot", test_cases=[SCRIPTED, single], repeat=2
    )
    final = await service.client.wait_for_run(accepted.run_id, timeout=30, poll_s=0.05)

    assert (final.status, final.passed) == ("completed", 4)
    results = (await service.client.run_results(accepted.run_id, limit=10)).items
    by_case = {(r.case_index, r.repeat_index): r for r in results}
    for repeat in (0, 1):
        conversation, one = by_case[(0, repeat)], by_case[(1, repeat)]
        assert (conversation.turns, conversation.stop_reason) == (2, "completed")
        assert conversation.transcript is not None and len(conversation.transcript) == 4
        assert (one.transcript, one.turns, one.stop_reason) == (None, None, None)
    assert final.summary is not None
    conversations = final.summary["conversations"]
    assert (conversations["total"], conversations["passed"]) == (2, 2)
    assert conversations["stop_reasons"] == {"completed": 2}
    assert set(conversations["by_turn"]) == {"1", "2"}
    assert conversations["by_turn"]["2"]["pass_rate"] == 1.0
    # The run's reports, read back from the store, carry the transcripts.
    junit = (await service.client.get_report(accepted.run_id, "junit")).decode()
    assert junit.count("<system-out>conversation: 2 agent replies") == 2
    assert "[turn 2] agent: Thanks, your refund is on its way." in junit
    html = (await service.client.get_report(accepted.run_id, "html")).decode()
    assert html.count('<details class="transcript">') == 2


async def test_suites_hold_conversations_as_json_and_as_imported_files(
    service: Service,
) -> None:
    await service.client.create_agent(AGENT)
    created = await service.client.create_suite(
        {"id": "refunds", "name": "Refunds", "test_cases": [SCRIPTED]}
    )
    assert created.case_count == 1
    suite = await service.client.get_suite("refunds")
    assert suite.test_cases is not None
    assert suite.test_cases[0].turns is not None
    assert suite.test_cases[0].checks[2].scope == "each"

    yaml_suite = (
        "name: imported\n"
        "test_cases:\n"
        "  - name: refund by turns\n"
        "    turns:\n"
        "      - input: I want a refund\n"
        "        checks: [{type: icontains, value: order number}]\n"
        "      - input: It is A-1234\n"
        "    checks:\n"
        "      - {type: icontains, value: refund, scope: conversation}\n"
    )
    imported = await service.client.import_suite(
        "refunds.yaml", content=yaml_suite.encode(), suite_id="imported"
    )
    assert imported.case_count == 1
    accepted = await service.client.submit_batch("support-bot", suite_id="imported")
    final = await service.client.wait_for_run(accepted.run_id, timeout=30, poll_s=0.05)
    assert final.passed == 1
    (result,) = (await service.client.run_results(accepted.run_id)).items
    assert result.stop_reason == "completed"
    assert result.checks[0].reason


@pytest.mark.parametrize(
    ("kinds", "found"),
    [
        ({"input": "hi", "turns": [{"input": "hi"}]}, "'input' and 'turns'"),
        (
            {"turns": [{"input": "hi"}], "simulated_user": {"persona": "p"}},
            "'turns' and 'simulated_user'",
        ),
        ({"input": "hi", "simulated_user": {"persona": "p"}}, "'input' and 'simulated_user'"),
    ],
)
async def test_a_case_with_two_kinds_is_a_422(
    service: Service, kinds: dict[str, object], found: str
) -> None:
    await service.client.create_agent(AGENT)
    for path, body in (
        ("/api/v1/test/run", {"agent_id": "support-bot", "test_case": {"name": "x", **kinds}}),
        ("/api/v1/test/batch", {"agent_id": "support-bot", "test_cases": [{"name": "x", **kinds}]}),
        ("/api/v1/suites", {"name": "s", "test_cases": [{"name": "x", **kinds}]}),
    ):
        response = await service.http.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert found in json.dumps(error), error


async def test_a_bad_scope_and_a_bad_turn_check_are_422(service: Service) -> None:
    await service.client.create_agent(AGENT)
    bad_scope = {**SCRIPTED, "checks": [{"type": "contains", "value": "x", "scope": "every"}]}
    response = await service.http.post(
        "/api/v1/test/batch", json={"agent_id": "support-bot", "test_cases": [bad_scope]}
    )
    assert response.status_code == 422, response.text
    field = response.json()["error"]["details"][0]["field"]
    assert field.endswith("checks.0.scope") or field.endswith("checks[0].scope"), field

    scoped_turn = {
        "name": "x",
        "turns": [{"input": "hi", "checks": [{"type": "contains", "value": "x", "scope": "each"}]}],
    }
    response = await service.http.post(
        "/api/v1/test/run", json={"agent_id": "support-bot", "test_case": scoped_turn}
    )
    assert response.status_code == 422, response.text

    bad_turn_check = {
        "name": "x",
        "turns": [{"input": "hi"}, {"input": "again", "checks": [{"type": "contains"}]}],
    }
    with pytest.raises(APIStatusError) as refused:
        await service.client.submit_batch("support-bot", test_cases=[bad_turn_check])
    assert refused.value.status == 422
    assert refused.value.details[0]["field"] == "test_cases[0].turns[1].checks[0].value"

    no_turns = {"name": "x", "turns": []}
    response = await service.http.post(
        "/api/v1/test/run", json={"agent_id": "support-bot", "test_case": no_turns}
    )
    assert response.status_code == 422, response.text


async def test_a_simulated_user_talks_to_the_agent_through_the_fake_provider(
    service: Service, fake_llm: FakeLLMServer
) -> None:
    await service.client.create_agent(AGENT)
    result = await service.client.run_test(SIMULATED, agent_id="support-bot")

    assert result.status == "passed", result.feedback
    assert (result.turns, result.stop_reason) == (2, "goal_reached")
    assert result.transcript is not None
    assert [e.content for e in result.transcript if e.role == "user"] == [
        "I want a refund",
        "It is A-1234",
        "Thanks!",
    ]
    assert result.simulator_usage.input_tokens > 0
    simulator_calls = [r for r in fake_llm.requests if "You play" in str(r.json.get("system"))]
    assert len(simulator_calls) == 2
    assert all("goal_completed" not in json.dumps(r.json) for r in simulator_calls)

    accepted = await service.client.submit_batch("support-bot", test_cases=[SIMULATED], repeat=2)
    final = await service.client.wait_for_run(accepted.run_id, timeout=30, poll_s=0.05)
    assert final.passed == 2
    assert final.summary is not None
    assert final.summary["conversations"]["goal_reached"] == 2
    assert final.summary["conversations"]["mean_turns_to_goal"] == 2.0
    assert final.summary["simulator_usage"]["input_tokens"] > 0
    stored = (await service.client.run_results(accepted.run_id)).items
    assert all(r.simulator_usage.input_tokens > 0 for r in stored)
    assert len(simulator_calls) + 4 == len(
        [r for r in fake_llm.requests if "You play" in str(r.json.get("system"))]
    )


async def test_run_comparison_pairs_conversations_by_name_and_repeat(service: Service) -> None:
    await service.client.create_agent(AGENT)
    single = {
        "name": "one message",
        "input": "refund",
        "checks": [{"type": "contains", "value": "order"}],
    }
    cases = [SCRIPTED, single]
    base = await service.client.submit_batch("support-bot", test_cases=cases, repeat=2)
    await service.client.wait_for_run(base.run_id, timeout=30, poll_s=0.05)
    # The new version no longer answers the order number with a refund: the conversation fails.
    forgetful = {**AGENT["config"], "responses": AGENT["config"]["responses"][:1]}  # type: ignore[index]
    await service.client.update_agent("support-bot", config=forgetful)
    head = await service.client.submit_batch("support-bot", test_cases=cases[::-1], repeat=2)
    await service.client.wait_for_run(head.run_id, timeout=30, poll_s=0.05)

    comparison = await service.client.compare_runs(base.run_id, head.run_id)
    assert comparison.pairs == 4
    assert (comparison.only_in_base, comparison.only_in_head) == ([], [])
    assert sorted((f.name, f.repeat_index) for f in comparison.regressions) == [
        ("refund needs the order number", 0),
        ("refund needs the order number", 1),
    ]
    assert comparison.improvements == []
