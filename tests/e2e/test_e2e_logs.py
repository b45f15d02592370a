"""The real server's logs: JSON access lines with ``LOG_FORMAT=json``, and never a secret.

Secrets are put everywhere a careless server would echo them: an HTTP agent's header and body,
an LLM agent's ``api_key``, a call that fails against an agent answering 500, a malformed body
that carries a secret, and a wrong API key. None of them may appear in anything the server
printed or answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.mock_agent import Behaviour, start_mock_agent
from tests.fakes.server_process import ServerProcess, server_env, start_server

KEY = "afk_e2e-logs-admin-key-0123456789abcdefghijklmno"
HEADER_SECRET = "sk-live-SECRET123"
BODY_SECRET = "sk-body-SECRET456"
LLM_SECRET = "sk-llm-SECRET789"
WRONG_KEY = "afk_wrongSECRET"
SECRETS = (HEADER_SECRET, BODY_SECRET, LLM_SECRET, WRONG_KEY, "SECRET")
FAILING = Behaviour(status=500, text="upstream exploded")


def http_agent(mock_url: str) -> dict[str, Any]:
    return {
        "id": "secret-http",
        "kind": "http",
        "config": {
            "url": f"{mock_url}/broken",
            "headers": {"Authorization": f"Bearer {HEADER_SECRET}"},
            "body": {"input": "{{input}}", "api_key": BODY_SECRET},
            "timeout_s": 5,
        },
    }


def llm_agent(mock_url: str) -> dict[str, Any]:
    return {
        "id": "secret-llm",
        "kind": "llm",
        "config": {
            "provider": "openai",
            "model": "gpt-test",
            "api_key": LLM_SECRET,
            "base_url": f"{mock_url}/llm",
        },
    }


CASE = {"name": "fails", "input": "hello", "checks": [{"type": "contains", "value": "hi"}]}


def access_lines(server: ServerProcess) -> list[dict[str, Any]]:
    records = []
    for line in server.stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "aifactory.access":
                records.append(record)
    return records


@pytest.mark.slow
async def test_json_access_logs_and_no_secret_in_any_output(tmp_path: Path) -> None:
    behaviours = {"/broken": FAILING, "/llm/chat/completions": FAILING}
    async with start_mock_agent(behaviours=behaviours) as mock:
        env = server_env(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}",
            AIFACTORY_API_KEYS=KEY,
            LOG_FORMAT="json",
            AIFACTORY_ALLOWED_AGENT_HOSTS="127.0.0.1",
            AIFACTORY_LLM_MAX_ATTEMPTS="1",
        )
        server = start_server(tmp_path, env)
        answers: list[httpx.Response] = []
        try:
            auth = {"Authorization": f"Bearer {KEY}"}
            async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as api:
                for agent in (http_agent(mock.url), llm_agent(mock.url)):
                    answers.append(await api.post("/api/v1/agents", json=agent))
                    assert answers[-1].status_code == 201, answers[-1].text
                    answers.append(await api.get(f"/api/v1/agents/{agent['id']}"))
                    answers.append(
                        await api.post(
                            "/api/v1/test/run", json={"agent_id": agent["id"], "test_case": CASE}
                        )
                    )
                    assert answers[-1].status_code == 200, answers[-1].text
                    assert answers[-1].json()["status"] == "error"
                    answers.append(await api.get(f"/api/v1/agents/{agent['id']}/results"))

                # A 422 whose body carries a secret, in a field that is wrong.
                bad = http_agent(mock.url) | {"id": "Not A Valid Id", "max_concurrency": -1}
                answers.append(await api.post("/api/v1/agents", json=bad))
                assert answers[-1].status_code == 422
                answers.append(await api.get("/api/v1/agents", params={"limit": 5000}))
                assert answers[-1].status_code == 422

                wrong = {"Authorization": f"Bearer {WRONG_KEY}"}
                answers.append(await api.get("/api/v1/agents", headers=wrong))
                assert answers[-1].status_code == 401
        finally:
            server.stop()

    # The secrets were really used: the agent endpoint received them.
    sent = [r for r in mock.requests if r.path == "/broken"]
    assert sent and sent[0].headers["Authorization"] == f"Bearer {HEADER_SECRET}"
    assert sent[0].body["api_key"] == BODY_SECRET
    llm_calls = [r for r in mock.requests if r.path == "/llm/chat/completions"]
    assert llm_calls and llm_calls[0].headers["Authorization"] == f"Bearer {LLM_SECRET}"

    output = server.output()
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer.text, (answer.request.url, answer.text)
            assert secret not in str(answer.headers)
    for secret in SECRETS:
        assert secret not in output, output

    records = access_lines(server)
    by_status = {(r["method"], r["path"], r["status"]) for r in records}
    assert ("POST", "/api/v1/agents", 201) in by_status
    assert ("POST", "/api/v1/agents", 422) in by_status
    assert ("GET", "/api/v1/agents", 401) in by_status
    assert ("POST", "/api/v1/test/run", 200) in by_status
    request_ids = {answer.headers["X-Request-ID"] for answer in answers}
    assert request_ids <= {r["request_id"] for r in records}
    for record in records:
        assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
        assert record["level"] == "INFO"
        assert record["path"].startswith("/")
