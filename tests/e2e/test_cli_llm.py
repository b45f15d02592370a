"""``aifactory run`` with an llm agent and an LLM judge, both through the real SDKs, against a
fake Anthropic server on 127.0.0.1 reached through ``ANTHROPIC_BASE_URL``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.fakes.fake_llm import FakeLLMServer, Reply, Status, last_user_text, system_prompt

AGENT = """
id: support-llm
kind: llm
config:
  provider: anthropic
  model: claude-haiku-4-5
  system_prompt: You are a support bot. Refunds are possible within 30 days.
max_concurrency: 4
"""

SUITE = """
name: llm suite
test_cases:
  - name: refund window
    input: Can I get a refund after 40 days?
    expected: No; refunds are possible within 30 days.
    checks:
      - {type: contains, value: 30 days}
      - {type: llm_rubric, rubric: States the 30-day policy, weight: 2}
  - name: weather
    input: What's the weather?
    checks:
      - {type: llm_rubric, rubric: Declines politely}
"""


def responder(body: dict[str, Any]) -> Reply:
    if body.get("tools"):  # the judge asks for a forced "verdict" tool
        answer = json.dumps(body["messages"])
        good = "30 days" in answer
        return Reply(
            structured={
                "reasoning": "States the policy." if good else "Off topic.",
                "score": 0.9 if good else 0.2,
                "pass": good,
            }
        )
    if "30 days" in system_prompt(body) and "refund" in last_user_text(body):
        return Reply(text="Sorry, refunds are only possible within 30 days.")
    return Reply(text="I don't know.")


async def run_cli(tmp_path: Path, server: FakeLLMServer, *args: str) -> tuple[int, str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COLUMNS": "200",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        "AIFACTORY_JUDGE_MODEL": "anthropic:claude-sonnet-4-6",
        "AIFACTORY_LLM_BACKOFF_S": "0.01",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aifactory",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_llm_agent_and_judge_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    (tmp_path / "suite.yaml").write_text(SUITE)
    async with FakeLLMServer(responder) as server:
        # The first agent call meets a 429 with retry-after: our policy waits and retries.
        server.script(Status(429, headers={"retry-after": "0"}))
        code, out, err = await run_cli(
            tmp_path,
            server,
            "run",
            "suite.yaml",
            "--agent",
            "agent.yaml",
            "-q",
            "--json",
            "report.json",
        )
    assert code == 1, out + err  # the weather case fails its rubric
    report = json.loads((tmp_path / "report.json").read_text())
    results = {r["test_case"]["name"]: r for r in report["results"]}
    refund = results["refund window"]
    assert refund["status"] == "passed"
    assert refund["output"] == "Sorry, refunds are only possible within 30 days."
    rubric = next(c for c in refund["checks"] if c["type"] == "llm_rubric")
    assert rubric["score"] == 0.9
    assert rubric["reason"] == "States the policy."
    assert refund["usage"]["input_tokens"] > 0
    assert refund["judge_usage"]["input_tokens"] > 0
    assert results["weather"]["status"] == "failed"
    assert "Off topic." in results["weather"]["feedback"]
    agent_calls = [r for r in server.requests if not r.json.get("tools")]
    assert len(agent_calls) == 3  # two cases plus the retried 429
    assert all(r.api_key() == "sk-ant-test" for r in server.requests)


async def test_judge_down_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(AGENT)
    (tmp_path / "suite.yaml").write_text(SUITE)

    def judge_always_fails(body: dict[str, Any]) -> Reply | Status:
        if body.get("tools"):
            return Status(500)
        return responder(body)

    async with FakeLLMServer(judge_always_fails) as server:  # type: ignore[arg-type]
        code, out, err = await run_cli(
            tmp_path,
            server,
            "run",
            "suite.yaml",
            "--agent",
            "agent.yaml",
            "-q",
            "--json",
            "report.json",
        )
    assert code == 1, out + err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["errored"] == 2
    assert report["summary"]["passed"] == 0
    for result in report["results"]:
        rubric = next(c for c in result["checks"] if c["type"] == "llm_rubric")
        assert rubric["status"] == "error"
