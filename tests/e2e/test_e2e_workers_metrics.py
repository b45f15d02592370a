"""``serve --workers 2``: requests spread over two processes, and the metrics count them all."""

from __future__ import annotations

import http.client
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.fakes.server_process import running_server, server_env

KEY = "afk_e2e-workers-admin-key-0123456789abcdefghijk"
REQUESTS = 120
_SAMPLE = re.compile(r"^aifactory_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
METRICS_200 = 'method="GET",route="/api/v1/metrics",status="200"'


def health_on_a_new_connection(port: int) -> int:
    # A new connection each time: a kept-alive one would stick to one worker. (http.client
    # rather than a new httpx client per request, which would build an SSL context each time.)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def prometheus_requests(text: str) -> dict[str, float]:
    """``aifactory_http_requests_total`` per label set, from the exposition text."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match["labels"]] = float(match["value"])
    return samples


def worker_pids(directory: Path) -> set[str]:
    # prometheus_client's multiprocess mode keeps one counter file per process that counted
    # something: two files mean both workers answered requests.
    return {p.stem.rsplit("_", 1)[1] for p in directory.glob("counter_*.db")}


@pytest.mark.slow
def test_two_workers_share_the_load_and_count_every_request(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}",
        AIFACTORY_API_KEYS=KEY,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with running_server(tmp_path, env, args=("--workers", "2")) as server:
        # Both workers must be up before the load, or the first takes it all.
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(max_workers=8) as pool:
            while True:
                statuses = list(pool.map(health_on_a_new_connection, [server.port] * REQUESTS))
                assert statuses == [200] * REQUESTS
                if len(worker_pids(metrics_dir)) >= 2 or time.monotonic() > deadline:
                    break
        assert len(worker_pids(metrics_dir)) == 2, sorted(metrics_dir.iterdir())

        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10.0
        ) as client:
            snapshot = client.get("/api/v1/metrics").json()
            # The worker that answered that call counts it just after; /metrics is not counted.
            deadline = time.monotonic() + 30
            while True:
                exposition = client.get("/metrics")
                if METRICS_200 in prometheus_requests(exposition.text):
                    break
                assert time.monotonic() < deadline, exposition.text
                time.sleep(0.05)

    assert snapshot["requests_total"] >= REQUESTS
    assert exposition.status_code == 200
    samples = prometheus_requests(exposition.text)
    health = samples['method="GET",route="/health",status="200"']
    assert health >= REQUESTS
    # The JSON view and the Prometheus view are the same numbers, give or take the JSON
    # request itself, which is counted after it answered.
    assert sum(samples.values()) - snapshot["requests_total"] in (0, 1)
    assert samples.get(METRICS_200) == 1


def page_on_a_new_connection(port: int, cookie: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Cookie": f"aif_session={cookie}"})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
def test_a_dashboard_session_is_honoured_by_every_worker_without_a_set_secret(
    tmp_path: Path,
) -> None:
    # Loopback development: no AIFACTORY_SESSION_SECRET, so each worker reads the one secret
    # made in the cache directory; a session signed by one worker is good on the other.
    metrics_dir = tmp_path / "prometheus"
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}",
        AIFACTORY_API_KEYS=KEY,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with running_server(tmp_path, env, args=("--workers", "2")) as server:
        with httpx.Client(base_url=server.url, timeout=10.0) as browser:
            form = browser.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            signed_in = browser.post("/signin", data={"api_key": KEY, "csrf_token": token[1]})
            assert signed_in.status_code == 303, signed_in.text
            cookie = browser.cookies["aif_session"]
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(max_workers=8) as pool:
            while True:
                statuses = list(
                    pool.map(page_on_a_new_connection, [server.port] * 40, [cookie] * 40)
                )
                assert statuses == [200] * 40
                if len(worker_pids(metrics_dir)) >= 2 or time.monotonic() > deadline:
                    break
        assert len(worker_pids(metrics_dir)) == 2
    secret_file = tmp_path / ".aifactory-cache" / "session-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in map(int, children.read_text().split()):
            found |= {child, *descendants(child)}
    return found


@pytest.mark.slow
def test_two_workers_leave_their_batches_to_one_batch_runner(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'runner.db'}",
        AIFACTORY_API_KEYS=KEY,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        running_server(tmp_path, env, args=("--workers", "2")) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as client,
    ):
        runners = [
            pid
            for pid in descendants(server.process.pid)
            if b"batch-runner" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(runners) == 1
        assert client.get("/health").json()["queue"] == {"backend": "process"}
        cases = [
            {"name": f"c{n}", "input": "Can I get a refund?", "checks": [
                {"type": "contains", "value": "30 days"}]}
            for n in range(4)
        ]  # fmt: skip
        accepted = client.post(
            "/api/v1/test/batch", json={"agent_id": "demo-support-bot", "test_cases": cases}
        )
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 30
        while (status := client.get(accepted.json()["status_url"]).json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
    assert (status["status"], status["passed"]) == ("completed", 4)
