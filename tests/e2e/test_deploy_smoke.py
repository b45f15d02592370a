"""``aifactory smoke URL`` and ``test_api_deployment.py URL`` against live and broken servers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.gunicorn_process import ROOT, gunicorn_env, running_gunicorn
from tests.fakes.server_process import ServerProcess, server_env

from aifactory.cli.smoke import Targets, check_deployment

KEY = "afk_e2e-smoke-admin-key-0123456789abcdefghijklm"
SEED_ROWS = (
    "GET /health",
    "GET /ping",
    "POST /api/v1/test/run",
    "POST /api/v1/test/batch",
    "GET /api/v1/test/status/{id}",
    "batch completes",
    "GET /api/v1/agents/demo-support-bot/results",
    "GET /api/v1/metrics",
)
# The validator's defaults are the original's promises (50 ms for /health, 20 ms for /ping);
# a test on a shared machine must not depend on them, so it passes targets no answer misses.
GENEROUS = (
    "--health-ms",
    "60000",
    "--ping-ms",
    "60000",
    "--batch-ms",
    "60000",
    "--run-s",
    "60",
    "--request-ms",
    "60000",
)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Wide columns, so rich never wraps a row of the table in the middle of a word we look for.
    return subprocess.run(
        [sys.executable, *args],
        env=server_env(COLUMNS="250", **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """gunicorn with the production conf, without the demo agent (the smoke test adds it)."""
    directory = tmp_path_factory.mktemp("smoke-live")
    with running_gunicorn(directory, gunicorn_env(directory, AIFACTORY_API_KEYS=KEY)) as server:
        yield server


@pytest.mark.slow
def test_smoke_passes_against_a_live_server(live: ServerProcess) -> None:
    result = run_cli("-m", "aifactory", "smoke", live.url, "--api-key", KEY, *GENEROUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all passed" in result.stdout
    lines = result.stdout.splitlines()
    for check in SEED_ROWS:
        row = next((line for line in lines if f" {check} " in line), None)
        assert row is not None, f"no row for {check}"
        assert "PASS" in row
    assert "FAIL" not in result.stdout


@pytest.mark.slow
def test_the_root_script_is_the_same_validator(live: ServerProcess) -> None:
    passed = run_cli("test_api_deployment.py", live.url, *GENEROUS, AIFACTORY_API_KEY=KEY)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "all passed" in passed.stdout
    assert "Using the API key in AIFACTORY_API_KEY." in passed.stdout


@pytest.mark.slow
def test_the_root_script_without_a_key_says_where_it_reads_one(live: ServerProcess) -> None:
    result = run_cli("test_api_deployment.py", live.url, *GENEROUS)
    assert result.returncode == 1
    assert "No API key: set AIFACTORY_API_KEY or pass --api-key" in result.stdout
    metrics = next(line for line in result.stdout.splitlines() if "GET /api/v1/metrics" in line)
    assert "FAIL" in metrics and "401" in metrics
    assert "no API key was sent: pass a valid key with --api-key (or AIFACTORY_API_KEY)" in metrics
    usage = run_cli("test_api_deployment.py", "--help")
    assert "read from AIFACTORY_API_KEY when not given" in " ".join(usage.stdout.split())


def test_targets_default_to_the_original_promises() -> None:
    # /health 50 ms, /ping 20 ms, accepting a batch 100 ms, a single run 30 s; the p95 of
    # 800 ms for everything else.
    assert Targets() == Targets(
        health_ms=50, ping_ms=20, batch_ms=100, run_ms=30_000, request_ms=800
    )
    usage = " ".join(run_cli("test_api_deployment.py", "--help").stdout.split())
    for flag, default in (
        ("--health-ms", "50.0"),
        ("--ping-ms", "20.0"),
        ("--batch-ms", "100.0"),
        ("--run-s", "30.0"),
        ("--request-ms", "800.0"),
    ):
        start = usage.index(flag)
        option = usage[start : usage.index(" --", start + len(flag))]
        assert f"[default: {default}]" in option, option


@pytest.mark.slow
def test_a_target_given_as_a_flag_decides_pass_or_fail(live: ServerProcess) -> None:
    # No answer can take 0 ms: the same server passes its ping row with one target, fails it
    # with the other, and the table and the exit code say so.
    strict = [*GENEROUS, "--ping-ms", "0"]
    failed = run_cli("test_api_deployment.py", live.url, *strict, AIFACTORY_API_KEY=KEY)
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout
    ping = next(line for line in failed.stdout.splitlines() if " GET /ping " in line)
    assert "FAIL" in ping and "over the 0 ms target" in ping
    health = next(line for line in failed.stdout.splitlines() if " GET /health " in line)
    assert "PASS" in health


def test_a_refused_key_is_told_apart_from_a_missing_one(live: ServerProcess) -> None:
    generous = Targets(60_000, 60_000, 60_000, 60_000, 60_000)
    wrong = "afk_not-a-key-of-this-server-0123456789abcdef"
    rows = {row.check: row for row in check_deployment(live.url, wrong, targets=generous)}
    metrics = rows["GET /api/v1/metrics"]
    assert (metrics.passed, metrics.status) == (False, 401)
    assert "the key was refused: pass a valid key with --api-key" in metrics.detail


def test_without_a_key_the_api_rows_fail_and_say_how_to_pass_one(live: ServerProcess) -> None:
    generous = Targets(60_000, 60_000, 60_000, 60_000, 60_000)
    rows = {row.check: row for row in check_deployment(live.url, targets=generous)}
    assert rows["GET /health"].passed and rows["GET /ping"].passed
    metrics = rows["GET /api/v1/metrics"]
    assert (metrics.passed, metrics.status) == (False, 401)
    assert "pass a valid key with --api-key (or AIFACTORY_API_KEY)" in metrics.detail


class BrokenHandler(BaseHTTPRequestHandler):
    """A server that looks alive but answers wrong: bad shapes, a 500, a slow answer."""

    answers: dict[tuple[str, str], tuple[int, Any, float]] = {
        ("GET", "/health"): (200, {"status": "ok"}, 0.0),
        ("GET", "/ping"): (200, {"message": "ping"}, 0.0),
        ("GET", "/api/v1/agents/demo-support-bot"): (200, {"id": "demo-support-bot"}, 0.0),
        ("POST", "/api/v1/test/run"): (
            500,
            {"error": {"code": "internal", "message": "The database is down."}},
            0.0,
        ),
        ("POST", "/api/v1/test/batch"): (
            202,
            {"run_id": "r1", "status": "queued", "total": 3, "status_url": "/x"},
            0.0,
        ),
        ("GET", "/api/v1/agents/demo-support-bot/results"): (
            200,
            {"items": [], "total": 0, "limit": 10, "offset": 0},
            0.0,
        ),
        ("GET", "/api/v1/metrics"): (
            200,
            {
                "requests_total": 9,
                "errors_total": 0,
                "error_rate": 0.0,
                "response_time_ms": {"avg": 1, "p50": 1, "p95": 1, "p99": 1},
                "runs": {},
            },
            0.9,  # over the 800 ms target
        ),
    }

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body, delay = self.answers.get(
            (self.command, self.path), (404, {"error": {"code": "not_found"}}, 0.0)
        )
        time.sleep(delay)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-ID", "broken")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def broken_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_each_wrong_answer_is_a_failed_row_that_says_what_is_wrong(broken_url: str) -> None:
    rows = {row.check: row for row in check_deployment(broken_url, KEY)}
    assert not rows["GET /health"].passed
    assert "missing version, database, uptime_s" in rows["GET /health"].detail
    assert "'message': 'ping'" in rows["GET /ping"].detail
    run = rows["POST /api/v1/test/run"]
    assert (run.passed, run.status) == (False, 500)
    assert run.detail == "HTTP 500, expected 200: The database is down."
    assert rows["POST /api/v1/test/batch"].detail == "total 3, expected 10"
    assert "not tried" in rows["GET /api/v1/test/status/{id}"].detail
    assert rows["GET /api/v1/agents/demo-support-bot/results"].detail == "no results for the agent"
    slow = rows["GET /api/v1/metrics"]
    assert not slow.passed
    assert slow.ms is not None and slow.ms > 800
    assert "over the 800 ms target" in slow.detail
    assert rows["agent demo-support-bot exists"].passed


def test_the_table_and_exit_code_against_a_broken_server(broken_url: str) -> None:
    result = run_cli("-m", "aifactory", "smoke", broken_url, "--api-key", KEY)
    assert result.returncode == 1
    assert "7 failed" in result.stdout
    run_row = next(line for line in result.stdout.splitlines() if "POST /api/v1/test/run" in line)
    assert "FAIL" in run_row
    assert "500" in run_row
    assert "The database is down." in run_row


def test_nothing_listening_is_one_clear_failure(tmp_path: Path) -> None:
    from tests.fakes.server_process import free_port

    rows = check_deployment(f"http://127.0.0.1:{free_port()}", KEY)
    assert len(rows) == 1
    assert rows[0].check == "GET /health"
    assert rows[0].detail.startswith("no answer: ConnectError")
