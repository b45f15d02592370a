"""``examples/conversations`` as a user with a key runs it: an llm agent, a simulated user and the
judge, all through the real Anthropic SDK against a fake Anthropic server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.test_cli_llm import run_cli
from tests.fakes.fake_llm import FakeLLMServer, Reply, last_user_text, system_prompt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversations"
REFUND = (
    "Thank you. Refunds are possible within 30 days; your refund for order A-1234 is on its way."
)


def responder(body: dict[str, Any]) -> Reply:
    system = system_prompt(body)
    if "You play the user" in system:
        prompt = last_user_text(body)
        if "on its way" in prompt:
            return Reply(structured={"message": "Thanks.", "done": True, "outcome": "goal_reached"})
        if "order number" in prompt:
            return Reply(structured={"message": "A-1234", "done": False, "outcome": None})
        opening = "I bought a jacket 45 days ago. Can I still get a refund?"
        return Reply(structured={"message": opening, "done": False, "outcome": None})
    if "support assistant" in system:
        said = " ".join(m["content"] for m in body["messages"] if m["role"] == "user")
        return Reply(
            text=REFUND if "A-1234" in said else "Sorry about that! What is your order number?"
        )
    return Reply(structured={"reasoning": "Fine.", "score": 0.9, "pass": True})


async def test_the_conversations_example_runs_with_a_key(
    tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    fake_llm.responder = responder
    report = tmp_path / "report.json"
    code, out, err = await run_cli(
        tmp_path,
        fake_llm,
        "run",
        str(EXAMPLE / "suite.yaml"),
        "--agent",
        str(EXAMPLE / "agent.yaml"),
        "--json",
        str(report),
    )
    assert code == 0, out + err
    assert "conversations 3/3" in err
    results = {r["test_case"]["name"]: r for r in json.loads(report.read_text())["results"]}
    assert results["refund needs the order number"]["stop_reason"] == "completed"
    upset = results["upset customer gets a refund"]
    assert (upset["stop_reason"], upset["turns"]) == ("goal_reached", 2)
    assert upset["simulator_usage"]["input_tokens"] > 0
    late = results["customer past the refund window is told kindly"]
    assert late["transcript"][0]["content"].startswith("I bought a jacket")
    # The agent was given the whole history at every turn.
    agent_calls = [
        r.json for r in fake_llm.requests if "support assistant" in system_prompt(r.json)
    ]
    assert max(len(call["messages"]) for call in agent_calls) == 3
