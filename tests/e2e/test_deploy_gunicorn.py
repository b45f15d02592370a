"""``gunicorn -c gunicorn.conf.py``: two uvicorn workers, one schema, metrics counting both."""

from __future__ import annotations

import http.client
import os
import re
import runpy
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tests.fakes.gunicorn_process import GUNICORN_CONF, gunicorn_env, running_gunicorn
from tests.fakes.server_process import ServerProcess, postgres_database

KEY = "afk_e2e-gunicorn-admin-key-0123456789abcdefghij"
_SAMPLE = re.compile(r"^aifactory_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
HEALTH_200 = 'method="GET",route="/health",status="200"'


def get_on_a_new_connection(port: int) -> int:
    # A new connection each time: a kept-alive one would stay with one worker.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def prometheus_counts(base_url: str) -> dict[str, float]:
    """``aifactory_http_requests_total`` per label set; ``/metrics`` itself is never counted."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {
        match["labels"]: float(match["value"])
        for line in text.splitlines()
        if (match := _SAMPLE.match(line))
    }


def child_pids(master_pid: int) -> set[int]:
    # Per thread: a batch runner started again is the child of the master's watcher thread.
    tasks = Path(f"/proc/{master_pid}/task").glob("*/children")
    return {int(pid) for children in tasks for pid in children.read_text().split()}


def is_batch_runner(pid: int) -> bool:
    try:
        return b"batch-runner" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def worker_pids(master_pid: int) -> set[int]:
    """The master's uvicorn workers (its batch runner is a child too, and is not one)."""
    return {pid for pid in child_pids(master_pid) if not is_batch_runner(pid)}


def batch_runner_pids(master_pid: int) -> set[int]:
    return {pid for pid in child_pids(master_pid) if is_batch_runner(pid)}


def nice_of(pid: int) -> int:
    # /proc/PID/stat: the fields after "(comm)" start at field 3; nice is field 19.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19 - 3])


def wait_for(what: str, check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def run_a_batch(client: httpx.Client) -> dict[str, Any]:
    """Submit a 3-case batch to the demo agent and wait for its end; its final status."""
    cases = [
        {"name": f"case {n}", "input": "Can I get a refund?", "checks": [
            {"type": "contains", "value": "30 days"}]}
        for n in range(3)
    ]  # fmt: skip
    accepted = client.post("/api/v1/test/batch", json={"agent_id": "demo-support-bot",
                                                        "test_cases": cases})  # fmt: skip
    assert accepted.status_code == 202, accepted.text

    def ended() -> dict[str, Any] | None:
        status = client.get(accepted.json()["status_url"]).json()
        return status if status["status"] not in ("queued", "running") else None

    final: dict[str, Any] = wait_for("the batch to end", ended)
    return final


def counting_pids(metrics_dir: Path) -> set[int]:
    # prometheus_client keeps one counter file per process that counted something.
    return {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}


@pytest.mark.slow
def test_two_workers_serve_and_metrics_count_exactly_the_requests_sent(tmp_path: Path) -> None:
    env = gunicorn_env(tmp_path, workers=2, AIFACTORY_API_KEYS=KEY)
    metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    with running_gunicorn(tmp_path, env) as server:
        health = httpx.get(f"{server.url}/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        deadline = time.monotonic() + 30
        while len(workers := worker_pids(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not fork its second worker"
            time.sleep(0.05)
        assert len(workers) == 2

        # Everything counted so far (readiness polls, the call above); /metrics is not counted.
        before = prometheus_counts(server.url)
        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            # At least one round, and more until both workers have answered some (the second
            # may still be booting at first).
            while sent == 0 or (
                counting_pids(metrics_dir) != workers and time.monotonic() < deadline
            ):
                statuses = list(pool.map(get_on_a_new_connection, [server.port] * 100))
                assert statuses == [200] * 100
                sent += 100
        assert counting_pids(metrics_dir) == workers, "both workers must have served requests"

        # A worker records a request just after answering it: wait until all have landed.
        expected_total = sum(before.values()) + sent
        while sum(prometheus_counts(server.url).values()) < expected_total:
            assert time.monotonic() < deadline + 5, "the counts never reached the requests sent"
            time.sleep(0.05)
        after = prometheus_counts(server.url)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            snapshot = client.get(
                "/api/v1/metrics", headers={"Authorization": f"Bearer {KEY}"}
            ).json()

    assert after[HEALTH_200] - before.get(HEALTH_200, 0) == sent
    assert sum(after.values()) == expected_total
    # The JSON view sums every worker's files too; its own request is counted after it answers.
    assert snapshot["requests_total"] == expected_total
    assert snapshot["errors_total"] == 0


def load_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    """The conf's settings as gunicorn reads them, for the given environment only."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("SERVER_HOST", "SERVER_PORT", "PORT", "GUNICORN_WORKERS", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_conf_reads_the_original_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = load_conf(
        monkeypatch,
        tmp_path,
        SERVER_HOST="127.0.0.1",
        SERVER_PORT="9123",
        GUNICORN_WORKERS="4",
        GUNICORN_TIMEOUT="45",
        LOG_LEVEL="DEBUG",
    )
    assert conf["bind"] == ["127.0.0.1:9123"]
    assert conf["workers"] == 4
    assert conf["timeout"] == 45
    assert conf["loglevel"] == "debug"
    assert conf["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert (conf["keepalive"], conf["backlog"], conf["worker_connections"]) == (5, 2048, 1000)
    assert conf["accesslog"] == "-"


def test_conf_defaults_and_railway_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = load_conf(monkeypatch, tmp_path, PORT="7654")
    assert conf["bind"] == ["127.0.0.1:7654"]
    assert conf["timeout"] == 120
    assert conf["workers"] == conf["default_workers"]()
    assert [conf["default_workers"](n) for n in (1, 2, 4)] == [2, 3, 7]
    # SERVER_PORT wins over the platform's PORT when both are set.
    assert load_conf(monkeypatch, tmp_path, PORT="7654", SERVER_PORT="8111")["bind"] == [
        "127.0.0.1:8111"
    ]


def test_conf_refuses_a_public_bind_without_authentication(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = load_conf(monkeypatch, tmp_path, SERVER_HOST="0.0.0.0", AIFACTORY_AUTH="disabled")
    # on_starting runs before gunicorn opens any socket; nothing listens here.
    with pytest.raises(SystemExit) as exit_info:
        conf["on_starting"](SimpleNamespace(log=None))
    assert exit_info.value.code == 2
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err


def test_conf_refuses_a_public_bind_without_a_session_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIFACTORY_SESSION_SECRET", raising=False)
    conf = load_conf(monkeypatch, tmp_path, SERVER_HOST="0.0.0.0", AIFACTORY_API_KEYS=KEY)
    with pytest.raises(SystemExit) as exit_info:
        conf["on_starting"](SimpleNamespace(log=None))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: AIFACTORY_SESSION_SECRET is not set")
    # It stopped before the database.
    assert not list(tmp_path.glob("*.db"))


def test_conf_refuses_a_short_operator_key_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = load_conf(monkeypatch, tmp_path, SERVER_HOST="127.0.0.1", AIFACTORY_API_KEYS="hunter2")
    with pytest.raises(SystemExit) as exit_info:
        conf["on_starting"](SimpleNamespace(log=None))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("error: AIFACTORY_API_KEYS: key number 1 is 7 characters long")
    assert len(err.strip().splitlines()) == 1
    assert "hunter2" not in err


def test_conf_checks_the_addresses_gunicorn_is_told_to_bind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `gunicorn -b 0.0.0.0:8000 -c gunicorn.conf.py` overrides the conf's loopback bind.
    monkeypatch.delenv("AIFACTORY_SESSION_SECRET", raising=False)
    conf = load_conf(monkeypatch, tmp_path, SERVER_HOST="127.0.0.1")
    server = SimpleNamespace(log=None, cfg=SimpleNamespace(bind=["0.0.0.0:8000"]))
    with pytest.raises(SystemExit) as exit_info:
        conf["on_starting"](server)
    assert exit_info.value.code == 2
    assert "AIFACTORY_SESSION_SECRET is not set" in capsys.readouterr().err


STARTS = 5


def booted_workers(server: ServerProcess) -> int:
    """Workers whose app finished its start-up (uvicorn logs it at INFO in gunicorn's log)."""
    return server.stderr.count("Application startup complete.")


@pytest.mark.slow
@pytest.mark.postgres
def test_five_starts_on_fresh_postgres_with_three_workers_all_serve(tmp_path: Path) -> None:
    # Each worker used to store AIFACTORY_API_KEYS as it started: on a fresh database two of
    # them inserted the key at once about one start in three, and the master exited.
    for start in range(STARTS):
        directory = tmp_path / f"start-{start + 1}"
        directory.mkdir()
        with postgres_database(fresh=True) as url:
            env = gunicorn_env(
                directory, workers=3, DATABASE_URL=url, AIFACTORY_API_KEYS=KEY, LOG_LEVEL="INFO"
            )
            with running_gunicorn(directory, env) as server:
                deadline = time.monotonic() + 60
                while booted_workers(server) < 3:
                    assert server.alive(), f"start {start + 1} failed:\n{server.stderr}"
                    assert time.monotonic() < deadline, f"start {start + 1}:\n{server.stderr}"
                    time.sleep(0.05)
                with httpx.Client(base_url=server.url, timeout=10) as client:
                    health = client.get("/health")
                    keys = client.get("/api/v1/keys", headers={"Authorization": f"Bearer {KEY}"})
                assert server.alive()
                output = server.output()
            assert health.status_code == 200, f"start {start + 1}: {health.text}"
            assert health.json()["database"] == "ok"
            assert keys.status_code == 200, f"start {start + 1}: {keys.text}"
            assert [k["name"] for k in keys.json()["items"]] == ["bootstrap-1"]
            assert "Worker failed to boot" not in output
            assert "Traceback" not in output


@pytest.mark.slow
def test_batches_run_in_one_lower_priority_runner_restarted_and_stopped_by_the_master(
    tmp_path: Path,
) -> None:
    env = gunicorn_env(
        tmp_path,
        workers=2,
        AIFACTORY_API_KEYS=KEY,
        AIFACTORY_SEED_DEMO="1",
        AIFACTORY_BATCH_RUNNER_NICE="7",  # SQLite's default is 0 (tests/unit/test_settings.py)
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        running_gunicorn(tmp_path, env) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as client,
    ):
        master = server.process.pid
        (runner,) = wait_for("the batch runner", lambda: batch_runner_pids(master))
        assert nice_of(runner) == nice_of(master) + 7
        assert client.get("/health").json()["queue"] == {"backend": "process"}
        first = run_a_batch(client)
        assert (first["status"], first["completed"], first["passed"]) == ("completed", 3, 3)

        # A runner that dies is started again, and the new one runs the next batch.
        os.kill(runner, signal.SIGKILL)
        (again,) = wait_for(
            "a new batch runner", lambda: batch_runner_pids(master) - {runner}, timeout_s=15
        )
        second = run_a_batch(client)
        assert (second["status"], second["completed"], second["passed"]) == ("completed", 3, 3)
        assert len(batch_runner_pids(master)) == 1

        # Stopping the master stops its runner too.
        os.kill(master, signal.SIGTERM)
        server.process.wait(timeout=30)
        wait_for("the runner to exit", lambda: not Path(f"/proc/{again}").exists(), 20)
