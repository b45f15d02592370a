"""Agents and judges that misbehave, through the whole batch path: every case ends as a result.

Each faulty HTTP agent (500s, garbage, dropped connections, no answer, an answer dripping one
byte at a time, a first answer of 503) and each faulty judge (500s, garbage, dropped
connections, no answer) gets a batch through the API. Every run completes; every case ends
passed, failed or error with the reason; and the fakes count the requests, which shows the
retries are those configured: one more attempt after a transient agent failure (timeout, 5xx,
dropped connection) and none after a permanent one, and ``AIFACTORY_LLM_MAX_ATTEMPTS`` for
the judge.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes.fake_llm import Behaviour, FakeLLMServer, Garbage, Hang, Reply, Reset, Status
from tests.fakes.service import Service
from tests.reliability.fault_agent import FaultAgent, start_fault_agent

CASES = 3
JUDGE_ATTEMPTS = 2
# One retry after a transient failure is the engine's default (CaseRunnerOptions.retries).
AGENT_ATTEMPTS = 2
GOOD_VERDICT = {"reasoning": "It answers.", "score": 1.0, "pass": True}


def judge(body: dict[str, Any]) -> Behaviour | str:
    text = json.dumps(body)
    if "j500" in text:
        return Status(500)
    if "jgarbage" in text:
        return Garbage()
    if "jreset" in text:
        return Reset()
    if "jhang" in text:
        return Hang(30)
    return Reply(structured=GOOD_VERDICT)


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(judge) as server:
        yield server


@pytest.fixture
def service_env(fake_llm: FakeLLMServer) -> dict[str, Any]:
    return {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake_llm.anthropic_base_url,
        "AIFACTORY_JUDGE_MODEL": "anthropic:claude-haiku-4-5",
        "AIFACTORY_LLM_MAX_ATTEMPTS": str(JUDGE_ATTEMPTS),
        "AIFACTORY_LLM_BACKOFF_S": "0.01",
        "AIFACTORY_LLM_TIMEOUT_S": "0.5",
    }


@pytest.fixture
async def agent() -> AsyncIterator[FaultAgent]:
    async with start_fault_agent(drip_s=0.01) as server:
        yield server


async def _agent(service: Service, agent_id: str, url: str, timeout_s: float) -> None:
    spec = {
        "id": agent_id,
        "kind": "http",
        "config": {"url": url, "timeout_s": timeout_s},
        "max_concurrency": 8,
    }
    response = await service.http.post("/api/v1/agents", json=spec)
    assert response.status_code == 201, response.text


async def _batch(service: Service, agent_id: str, cases: list[dict[str, Any]]) -> str:
    response = await service.http.post(
        "/api/v1/test/batch", json={"agent_id": agent_id, "test_cases": cases}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


async def _finished(service: Service, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        response = await service.http.get(
            f"/api/v1/test/status/{run_id}", params={"results_limit": 100}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} never finished: {body}"
        await asyncio.sleep(0.05)


def _cases(prefix: str, checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix} {i}", "input": f"{prefix} {i}", "checks": checks} for i in range(CASES)
    ]


# path, the agent's time limit, the status every case ends with, words in its error, requests
AGENT_FAULTS = [
    ("/ok", 5.0, "passed", None, CASES),
    ("/drip", 10.0, "passed", None, CASES),
    ("/flaky", 5.0, "passed", None, CASES * AGENT_ATTEMPTS),
    ("/status500", 5.0, "error", "HTTP 500", CASES * AGENT_ATTEMPTS),
    ("/garbage", 5.0, "error", "JSON", CASES),
    ("/reset", 5.0, "error", "could not be reached", CASES * AGENT_ATTEMPTS),
    ("/hang", 0.4, "error", "did not answer within", CASES * AGENT_ATTEMPTS),
    ("/drip-too-slow", 0.3, "error", "did not answer within", CASES * AGENT_ATTEMPTS),
]

# input keyword, the status every case ends with, requests the judge receives
JUDGE_FAULTS = [
    ("jok", "passed", CASES),
    ("j500", "error", CASES * JUDGE_ATTEMPTS),
    ("jgarbage", "error", None),
    ("jreset", "error", CASES * JUDGE_ATTEMPTS),
    ("jhang", "error", CASES * JUDGE_ATTEMPTS),
]


async def test_faulty_agents_end_every_case_with_a_result_and_retry_as_configured(
    service: Service, agent: FaultAgent
) -> None:
    runs = {}
    for path, timeout_s, _, _, _ in AGENT_FAULTS:
        agent_id = f"fault{path.replace('/', '-')}"
        await _agent(service, agent_id, f"{agent.url}{path}", timeout_s)
        runs[path] = await _batch(
            service, agent_id, _cases(path, [{"type": "contains", "value": "echo"}])
        )
    for path, _, status, reason, requests in AGENT_FAULTS:
        final = await _finished(service, runs[path])
        assert final["status"] == "completed", (path, final)
        assert final["total"] == final["completed"] == CASES
        results = final["results"]
        assert len(results) == CASES
        assert Counter(r["status"] for r in results) == {status: CASES}, (path, results)
        for result in results:
            if reason is None:
                assert result["error"] is None
                assert result["output"].startswith("echo: ")
            else:
                assert reason in result["error"], (path, result["error"])
        assert agent.requests[path] == requests, (path, agent.requests)


async def test_faulty_judges_end_every_case_with_a_result_and_retry_as_configured(
    service: Service, agent: FaultAgent, fake_llm: FakeLLMServer
) -> None:
    await _agent(service, "judged", f"{agent.url}/ok", 5.0)
    rubric = [{"type": "llm_rubric", "rubric": "Answers the question."}]
    runs: dict[str, tuple[dict[str, Any], int]] = {}
    for keyword, _, _ in JUDGE_FAULTS:
        before = len(fake_llm.requests)
        run_id = await _batch(service, "judged", _cases(keyword, rubric))
        final = await _finished(service, run_id)
        # One batch at a time, so the judge's requests can be told apart.
        runs[keyword] = (final, len(fake_llm.requests) - before)
    for keyword, status, requests in JUDGE_FAULTS:
        final, received = runs[keyword]
        assert final["status"] == "completed", (keyword, final)
        assert final["total"] == final["completed"] == CASES
        results = final["results"]
        assert Counter(r["status"] for r in results) == {status: CASES}, (keyword, results)
        for result in results:
            assert result["output"] == f"echo: {result['test_case']['name']}"
            check = result["checks"][0]
            if status == "error":
                assert check["reason"], result
            else:
                assert check["passed"] is True
        if requests is not None:
            assert received == requests, (keyword, received)
        else:
            # An unusable verdict is asked again once, within each attempt's budget.
            assert CASES <= received <= CASES * JUDGE_ATTEMPTS * 2, (keyword, received)
