"""``--budget-usd`` on the command line is refused (exit 2) before anything runs when a model that
would spend against it has no price: ``aifactory run`` checks the agent's model and the judge's
(when a case is model-graded), ``aifactory reflect`` gets the server's 422.

No model is called: the providers point at a closed loopback port, and the refused runs stop
before their first case.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client

KEY = "afk_budget-cli-key-0123456789abcdefghijklmnopq"
CLOSED = "http://127.0.0.1:9"
PROVIDERS = {
    "OPENAI_API_KEY": "sk-test",
    "OPENAI_BASE_URL": CLOSED,
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "ANTHROPIC_BASE_URL": CLOSED,
    "AIFACTORY_JUDGE_MODEL": "openai:house-judge",
}
LLM_AGENT = """
kind: llm
config: {provider: openai, model: house-agent-7b, system_prompt: Answer briefly.}
"""
SCRIPTED_AGENT = """
kind: scripted
config: {default: Refunds within 30 days.}
"""
PLAIN_SUITE = """
name: plain
test_cases:
  - {name: refund, input: Can I get a refund?, checks: [{type: contains, value: 30 days}]}
"""
JUDGED_CASES = [
    {"name": "refund", "input": "refund?", "checks": [{"type": "contains", "value": "30"}]},
    {"name": "polite", "input": "refund?", "checks": [{"type": "llm_rubric", "rubric": "polite"}]},
]


def aifactory(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "400", **PROVIDERS, **env},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_run_refuses_a_budget_on_an_agent_model_without_a_price(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", LLM_AGENT)
    suite = write(tmp_path / "suite.yaml", PLAIN_SUITE)
    report = tmp_path / "report.json"
    args = ("run", str(suite), "--agent", str(agent), "--json", str(report), "--quiet")

    refused = aifactory(*args, "--budget-usd", "1", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "--budget-usd cannot be kept" in message
    assert "house-agent-7b" in message and "AIFACTORY_PRICES" in message
    assert not report.exists()  # nothing ran

    # Priced through AIFACTORY_PRICES, the same run starts (its calls fail on the closed port).
    prices = json.dumps({"house-agent-7b": {"input": 0, "output": 0}})
    priced = aifactory(*args, "--budget-usd", "1", cwd=tmp_path, AIFACTORY_PRICES=prices)
    assert priced.returncode == 1, priced.stdout + priced.stderr
    assert json.loads(report.read_text())["summary"]["errored"] == 1


def test_run_counts_the_judge_only_when_a_case_is_model_graded(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", SCRIPTED_AGENT)
    plain = write(tmp_path / "plain.yaml", PLAIN_SUITE)
    # A streamed suite: the budget check reads it again, to the model-graded case at its end.
    judged = write(tmp_path / "judged.jsonl", "\n".join(json.dumps(c) for c in JUDGED_CASES))

    refused = aifactory(
        "run", str(judged), "--agent", str(agent), "--budget-usd", "1", "-q", cwd=tmp_path
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "house-judge" in message and "AIFACTORY_JUDGE_MODEL" in message
    assert "AIFACTORY_PRICES" in message

    passed = aifactory(
        "run", str(plain), "--agent", str(agent), "--budget-usd", "1", "-q", cwd=tmp_path
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_reflect_refuses_a_budget_the_server_cannot_keep(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        AIFACTORY_API_KEYS=KEY,
        AIFACTORY_REFLECTOR_MODEL="openai:house-reflector",
        **PROVIDERS,
    )
    with running_server(tmp_path, env) as server:
        with Client(server.url, api_key=KEY) as client:
            client.create_agent({"id": "bot", "kind": "scripted", "config": {"default": "30"}})
            cases = [{"name": f"c{i}", "input": "q", "checks": []} for i in range(2)]
            client.create_suite({"id": "two", "name": "two", "test_cases": cases})
        proc = aifactory(
            "reflect",
            "bot",
            "two",
            "--budget-usd",
            "1",
            cwd=tmp_path,
            AIFACTORY_SERVER=server.url,
            AIFACTORY_API_KEY=KEY,
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        message = " ".join(proc.stderr.split())
        assert "422 invalid_request" in message
        assert "house-reflector" in message and "AIFACTORY_PRICES" in message
        with Client(server.url, api_key=KEY) as client:
            assert client.list_reflections().total == 0
