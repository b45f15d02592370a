"""``loadtest/locustfile.py``: a short headless locust run of the seed mix against gunicorn."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.fakes.gunicorn_process import ROOT, gunicorn_env, running_gunicorn
from tests.fakes.prerequisites import require_extra

KEY = "afk_e2e-locust-admin-key-0123456789abcdefghijkl"
MIX = {
    "GET /health",
    "GET /ping",
    "POST /api/v1/test/run",
    "POST /api/v1/test/batch",
    "GET /api/v1/test/status/{id}",
    "GET /api/v1/agents/{id}/results",
    "GET /api/v1/metrics",
}


@pytest.mark.slow
def test_a_short_headless_locust_run_has_no_failures(tmp_path: Path) -> None:
    require_extra("load", "locust")
    # A second of grace on stop: the batches the load left queued need not finish.
    env = gunicorn_env(
        tmp_path, AIFACTORY_API_KEYS=KEY, AIFACTORY_SEED_DEMO="1", AIFACTORY_SHUTDOWN_GRACE_S="1"
    )
    with running_gunicorn(tmp_path, env) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(ROOT / "loadtest" / "locustfile.py"),
                "--host",
                server.url,
                "--headless",
                "--users",
                "5",
                "--spawn-rate",
                "5",
                "--run-time",
                "3s",
                "--only-summary",
                "--csv",
                str(tmp_path / "locust"),
            ],
            env={**env, "AIFACTORY_API_KEY": KEY, "AIFACTORY_LOAD_THINK_S": "0.2"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        metrics = httpx.get(
            f"{server.url}/api/v1/metrics", headers={"Authorization": f"Bearer {KEY}"}
        ).json()

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with (tmp_path / "locust_stats.csv").open() as stats_file:
        stats = {row["Name"]: row for row in csv.DictReader(stats_file)}
    assert set(stats) == MIX | {"Aggregated"}
    for name in MIX:
        assert int(stats[name]["Request Count"]) > 0, name
        assert int(stats[name]["Failure Count"]) == 0, name
    # The server saw the same load and answered none of it with an error.
    assert metrics["requests_total"] >= int(stats["Aggregated"]["Request Count"])
    assert metrics["errors_total"] == 0
