"""PostgreSQL taken away in the middle of a batch, then given back: nothing lost, nothing doubled.

A real ``aifactory serve`` reaches PostgreSQL through a TCP proxy of the test's own. While a
batch runs the proxy drops every connection and refuses new ones: ``/health`` answers 503, the
API answers 503 with the JSON error ``database_unavailable`` and ``Retry-After``, and the server
stays up. When the proxy accepts again the batch resumes by itself and completes with exactly
one finished result per case, as the API and the database (read directly, not through the proxy)
both say.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from tests.fakes.server_process import (
    PG_HOST,
    PG_PORT,
    ServerProcess,
    postgres_database,
    server_env,
    start_server,
)
from tests.reliability.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "afk_reliability-dbcut-admin-0123456789abcdefghij"
TOTAL = 120
AGENT_ID = f"dbcut-bot-{secrets.token_hex(4)}"
AGENT = {
    "id": AGENT_ID,
    "kind": "scripted",
    "config": {
        "responses": [{"match": "refund", "output": "Refunds are possible within 30 days."}],
        "default": "I can only help with refunds.",
        # 120 cases x 60 ms / 4 at once: about 2 s of work, long enough to cut in the middle.
        "latency_ms": 60,
    },
    "max_concurrency": 4,
    "rate_limit_per_minute": None,
}
EXPECTED_PASSED = len(range(0, TOTAL, 2))
# What the batch worker logs when the database fails it: storing results, extending its leases,
# reading run statuses.
WORKER_MET_OUTAGE = ("results failed", "leases failed", "Reading run statuses failed")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def batch() -> dict[str, Any]:
    return {
        "agent_id": AGENT_ID,
        "name": "database cut",
        "test_cases": [
            {
                "name": f"case {i}",
                "input": "a refund please" if i % 2 == 0 else "the weather?",
                "checks": [{"type": "contains", "value": "30 days"}],
            }
            for i in range(TOTAL)
        ],
    }


async def _eventually(
    client: httpx.AsyncClient, method: str, path: str, want: int, timeout_s: float = 30.0
) -> httpx.Response:
    """Ask until the answer has status ``want``; fail with the last answer otherwise."""
    deadline = time.monotonic() + timeout_s
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = await client.request(method, path)
        if last.status_code == want:
            return last
        await asyncio.sleep(0.1)
    assert last is not None
    pytest.fail(f"{method} {path} did not answer {want} in {timeout_s} s: {last.text}")


async def _rows(url: str, run_id: str) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
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


def _through(url: str, proxy: TcpProxy) -> str:
    return url.replace(f"@{PG_HOST}:{PG_PORT}/", f"@127.0.0.1:{proxy.port}/")


async def _start(tmp_path: Path, url: str) -> ServerProcess:
    env = server_env(DATABASE_URL=url, AIFACTORY_API_KEYS=KEY)
    # start_server polls /health synchronously; off the loop, so the proxy keeps forwarding.
    return await asyncio.to_thread(start_server, tmp_path, env)


async def test_database_cut_mid_batch_answers_503_then_completes_exactly_once(
    tmp_path: Path, pg_url: str
) -> None:
    async with tcp_proxy(PG_HOST, PG_PORT) as proxy:
        server = await _start(tmp_path, _through(pg_url, proxy))
        try:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=15.0
            ) as client:
                assert (await client.post("/api/v1/agents", json=AGENT)).status_code == 201
                accepted = await client.post("/api/v1/test/batch", json=batch())
                assert accepted.status_code == 202, accepted.text
                run_id = accepted.json()["run_id"]
                status_path = f"/api/v1/test/status/{run_id}?results_limit=1"

                deadline = time.monotonic() + 30
                while (await client.get(status_path)).json()["completed"] < 10:
                    assert time.monotonic() < deadline, "the batch made no progress"
                    await asyncio.sleep(0.02)

                await proxy.cut()
                health = await _eventually(client, "GET", "/health", 503)
                assert health.json()["database"] == "error"
                refused = await _eventually(client, "GET", status_path, 503)
                assert refused.json()["error"]["code"] == "database_unavailable"
                assert int(refused.headers["Retry-After"]) >= 1
                assert refused.headers["content-type"].startswith("application/json")
                listed = await client.get("/api/v1/runs")
                assert listed.status_code == 503, listed.text
                assert listed.json()["error"]["code"] == "database_unavailable"
                # Keep it away until the worker has met the outage too (and said so).
                deadline = time.monotonic() + 60
                while not any(sign in server.output() for sign in WORKER_MET_OUTAGE):
                    assert time.monotonic() < deadline, server.output()
                    await asyncio.sleep(0.05)
                assert server.alive(), server.output()

                await proxy.restore()
                await _eventually(client, "GET", "/health", 200)
                deadline = time.monotonic() + 60
                while True:
                    final = (await client.get(status_path)).json()
                    if final.get("status") not in ("queued", "running"):
                        break
                    assert time.monotonic() < deadline, f"the batch never completed: {final}"
                    await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(server.stop)

    assert final["status"] == "completed", final
    assert final["total"] == final["completed"] == TOTAL
    assert (final["passed"], final["failed"], final["errored"]) == (
        EXPECTED_PASSED,
        TOTAL - EXPECTED_PASSED,
        0,
    )
    rows, run = await _rows(pg_url, run_id)
    per_case = Counter((case_index, repeat_index) for case_index, repeat_index, _ in rows)
    assert set(per_case) == {(i, 0) for i in range(TOTAL)}
    assert [key for key, count in per_case.items() if count != 1] == []
    assert Counter(row[2] for row in rows) == {
        "passed": EXPECTED_PASSED,
        "failed": TOTAL - EXPECTED_PASSED,
    }
    assert run == ("completed", TOTAL, TOTAL, EXPECTED_PASSED, TOTAL - EXPECTED_PASSED, 0)
