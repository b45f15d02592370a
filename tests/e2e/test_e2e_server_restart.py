"""A server killed with SIGKILL in the middle of a batch loses no case and doubles none.

The real ``aifactory serve`` runs a slow scripted batch; the test kills it twice while cases
are in flight and restarts it on the same database each time. The run must still complete with
exactly one final result per case, as the API reports it and as the database holds it.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from tests.fakes.server_process import ServerProcess, postgres_database, server_env, start_server

KEY = "afk_e2e-restart-admin-key-0123456789abcdefghijk"
TOTAL = 300
# Unique, because AIFACTORY_TEST_PG_DB may name a database other tests use too.
AGENT_ID = f"slow-bot-{secrets.token_hex(4)}"
AGENT = {
    "id": AGENT_ID,
    "kind": "scripted",
    "config": {
        "responses": [{"match": "refund", "output": "Refunds are possible within 30 days."}],
        "default": "I can only help with refunds.",
        # 300 cases x 100 ms / 8 at once: about 4 s of work, time enough to kill it twice.
        "latency_ms": 100,
    },
    "max_concurrency": 8,
    "rate_limit_per_minute": None,
}
EXPECTED_PASSED = len(range(0, TOTAL, 3))


def batch() -> dict[str, Any]:
    return {
        "agent_id": AGENT_ID,
        "name": "killed twice",
        "test_cases": [
            {
                "name": f"case {i}",
                "input": "can I get a refund?" if i % 3 == 0 else "what is the weather?",
                "checks": [{"type": "contains", "value": "30 days"}],
            }
            for i in range(TOTAL)
        ],
    }


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10.0
    )


def status(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with api(server) as client:
        response = client.get(f"/api/v1/test/status/{run_id}", params={"results_limit": 1})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_progress(server: ServerProcess, run_id: str, at_least: int) -> int:
    """Poll until ``completed >= at_least``; the batch must not have finished yet."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = status(server, run_id)
        if current["completed"] >= at_least:
            assert current["completed"] < TOTAL, (
                "The batch finished before the server could be killed mid-run; "
                "make the scripted agent slower."
            )
            return int(current["completed"])
        time.sleep(0.02)
    pytest.fail(f"The run did not reach {at_least} completed cases: {status(server, run_id)}")


def wait_for_completion(server: ServerProcess, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = status(server, run_id)
        if current["status"] not in ("queued", "running"):
            return current
        time.sleep(0.1)
    pytest.fail(f"The run did not finish after restarts: {status(server, run_id)}")


def sqlite_rows(path: Path, run_id: str) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        results = conn.execute(
            "SELECT case_index, repeat_index, status FROM results WHERE run_id = ?", (run_id,)
        ).fetchall()
        run = conn.execute(
            "SELECT status, total, completed, passed, failed, errored FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
    return results, run


async def _postgres_rows(url: str, run_id: str) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        results = await conn.fetch(
            "SELECT case_index, repeat_index, status FROM results WHERE run_id = $1", run_id
        )
        run = await conn.fetchrow(
            "SELECT status, total, completed, passed, failed, errored FROM runs WHERE id = $1",
            run_id,
        )
    finally:
        await conn.close()
    return [tuple(r) for r in results], tuple(run)


def kill_twice_and_finish(directory: Path, database_url: str) -> tuple[str, dict[str, Any]]:
    """Run the batch, SIGKILL the server twice mid-run, restart it; the final status."""
    env = server_env(DATABASE_URL=database_url, AIFACTORY_API_KEYS=KEY)
    server = start_server(directory, env)
    try:
        with api(server) as client:
            assert client.post("/api/v1/agents", json=AGENT).status_code == 201
            accepted = client.post("/api/v1/test/batch", json=batch())
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]

        seen = wait_for_progress(server, run_id, at_least=40)
        server.kill()
        assert server.process.returncode == -9

        for at_least in (40, None):
            server = start_server(directory, env)
            # Finished cases survive the kill: the count only moves forward.
            assert status(server, run_id)["completed"] >= seen
            if at_least is not None:
                seen = wait_for_progress(server, run_id, at_least=seen + at_least)
                server.kill()
        return run_id, wait_for_completion(server, run_id)
    finally:
        server.stop()


def assert_every_case_ended_once(
    final: dict[str, Any], rows: list[tuple[Any, ...]], run: tuple[Any, ...]
) -> None:
    assert final["status"] == "completed"
    assert final["total"] == final["completed"] == TOTAL
    assert final["passed"] + final["failed"] + final["errored"] == TOTAL
    assert (final["passed"], final["failed"], final["errored"]) == (
        EXPECTED_PASSED,
        TOTAL - EXPECTED_PASSED,
        0,
    )

    per_case = Counter((case_index, repeat_index) for case_index, repeat_index, _ in rows)
    assert set(per_case) == {(i, 0) for i in range(TOTAL)}
    assert [key for key, count in per_case.items() if count != 1] == []
    statuses = Counter(row[2] for row in rows)
    assert statuses["pending"] == statuses["running"] == 0
    assert statuses == {"passed": final["passed"], "failed": final["failed"]}
    assert run == ("completed", TOTAL, TOTAL, final["passed"], final["failed"], 0)


@pytest.mark.slow
def test_sigkill_mid_batch_on_sqlite_loses_and_doubles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    run_id, final = kill_twice_and_finish(tmp_path, f"sqlite+aiosqlite:///{path}")
    rows, run = sqlite_rows(path, run_id)
    assert_every_case_ended_once(final, rows, run)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_mid_batch_on_postgres_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with postgres_database() as url:
        run_id, final = kill_twice_and_finish(tmp_path, url)
        rows, run = asyncio.run(_postgres_rows(url, run_id))
    assert_every_case_ended_once(final, rows, run)
