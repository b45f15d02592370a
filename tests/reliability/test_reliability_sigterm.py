"""SIGTERM to ``aifactory serve`` under load: requests in flight finish, the batch ends once.

A batch of slow scripted cases runs while synchronous ``/test/run`` calls are in flight: their
agent (a gated HTTP agent) holds them until the server has begun shutting down. SIGTERM goes to
the server: every request already sent gets its full answer (no connection error), the server
exits by itself, and the cases it held are finished or handed back. A new server on the same
database completes the batch with exactly one result per case.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.gated_agent import GatedAgent, gated_agent
from tests.fakes.server_process import ServerProcess, server_env, start_server

pytestmark = pytest.mark.slow

CHECK = {"type": "contains", "value": "30 days"}
KEY = "afk_reliability-sigterm-admin-0123456789abcdefgh"
TOTAL = 120
AGENT_ID = f"term-bot-{secrets.token_hex(4)}"
AGENT = {
    "id": AGENT_ID,
    "kind": "scripted",
    "config": {"default": "Refunds within 30 days.", "latency_ms": 300},
    "max_concurrency": 8,
    "rate_limit_per_minute": None,
}
GATED_ID = f"gated-bot-{secrets.token_hex(4)}"


def _client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30.0
    )


def _status(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with _client(server) as client:
        body: dict[str, Any] = client.get(
            f"/api/v1/test/status/{run_id}", params={"results_limit": 1}
        ).json()
    return body


@pytest.fixture
def gate() -> Iterator[GatedAgent]:
    """The agent of the synchronous calls: it holds them until the test opens it."""
    with gated_agent() as agent:
        yield agent


def test_sigterm_mid_batch_finishes_requests_in_flight_and_the_batch_once(
    tmp_path: Path, gate: GatedAgent
) -> None:
    path = tmp_path / "term.db"
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        AIFACTORY_API_KEYS=KEY,
        AIFACTORY_ALLOWED_AGENT_HOSTS="127.0.0.1",
    )
    server = start_server(tmp_path, env)
    try:
        with _client(server) as client:
            assert client.post("/api/v1/agents", json=AGENT).status_code == 201
            gated = {"id": GATED_ID, "kind": "http", "config": {"url": f"{gate.url}/agent"}}
            assert client.post("/api/v1/agents", json=gated).status_code == 201
            cases = [
                {"name": f"case {i}", "input": f"q{i}", "checks": [CHECK]} for i in range(TOTAL)
            ]
            accepted = client.post(
                "/api/v1/test/batch", json={"agent_id": AGENT_ID, "test_cases": cases}
            )
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        deadline = time.monotonic() + 30
        while _status(server, run_id)["completed"] < 8:
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.05)

        answers: list[int | str] = []

        def call() -> None:
            with _client(server) as client:
                try:
                    one = {"name": "sync", "input": "q", "checks": []}
                    response = client.post(
                        "/api/v1/test/run", json={"agent_id": GATED_ID, "test_case": one}
                    )
                    answers.append(response.status_code)
                except httpx.HTTPError as exc:
                    answers.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        # All four reached the agent, which holds them: these requests are in flight.
        gate.wait_for_arrivals(4)
        server.process.send_signal(15)
        deadline = time.monotonic() + 60
        while "Shutting down" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        gate.open()  # they answer only now, while the server shuts down
        for thread in threads:
            thread.join(timeout=60)
        assert answers == [200] * 4, answers
        server.process.wait(timeout=60)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (hence -15).
        assert server.process.returncode in (0, -15), server.output()
        assert "Application shutdown complete" in server.output()
        during = _held(path, run_id)
        assert during["running"] == 0, during

        server = start_server(tmp_path, env)
        deadline = time.monotonic() + 90
        while (final := _status(server, run_id))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, final
            time.sleep(0.1)
    finally:
        server.stop()

    assert final["status"] == "completed"
    assert final["total"] == final["completed"] == final["passed"] == TOTAL
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT case_index, status FROM results WHERE run_id = ?", (run_id,)
        ).fetchall()
    per_case = Counter(case_index for case_index, _ in rows)
    assert set(per_case) == set(range(TOTAL))
    assert [k for k, n in per_case.items() if n != 1] == []
    assert Counter(status for _, status in rows) == {"passed": TOTAL}


def _held(path: Path, run_id: str) -> Counter[str]:
    """Result rows of the run by status, as the stopped server left them."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status FROM results WHERE run_id = ?", (run_id,)).fetchall()
    return Counter(status for (status,) in rows)
