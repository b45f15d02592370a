"""Request metrics: the snapshot of one process's tallies is the registry's, collected."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from aifactory.api.metrics import BUCKETS_S, Metrics, collected_snapshot


def test_the_tallied_snapshot_is_the_collected_one() -> None:
    metrics = Metrics()
    assert metrics.snapshot() == collected_snapshot(metrics.registry)
    rng = random.Random(7)
    routes = ["/ping", "/api/v1/test/status/{run_id}", "unmatched", "/metrics"]
    durations = [*BUCKETS_S, 0.0, 1e-6, 45.0, 0.0042, 0.2, 3.3]  # on, between and past bounds
    for _ in range(2000):
        status = rng.choice([200, 201, 202, 404, 422, 500, 503])
        method, route = rng.choice(["GET", "POST"]), rng.choice(routes)
        metrics.observe(method, route, status, rng.choice(durations))
    snapshot = metrics.snapshot()
    assert snapshot == collected_snapshot(metrics.registry)
    assert 0 < snapshot["errors_total"] < snapshot["requests_total"] < 2000  # /metrics uncounted
    assert snapshot["response_time_ms"]["p99"] > snapshot["response_time_ms"]["p50"] > 0


_SHARED = """
import json, random, sys
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from aifactory.api.metrics import BUCKETS_S, Metrics, collected_snapshot

metrics = Metrics()
rng = random.Random(int(sys.argv[1]))
for _ in range(500):
    status = rng.choice([200, 202, 404, 500, 503])
    route = rng.choice(["/ping", "/api/v1/metrics", "unmatched", "/metrics"])
    metrics.observe("GET", route, status, rng.choice([*BUCKETS_S, 0.0, 45.0, 0.0042]))
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(json.dumps([metrics.snapshot(), collected_snapshot(registry)]))
"""


def test_the_snapshot_of_a_shared_directory_is_the_collected_one(tmp_path: Path) -> None:
    # prometheus_client picks file-backed values when imported with the directory set: a
    # process of its own per worker, as under gunicorn.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    answers = [
        subprocess.run(
            [sys.executable, "-c", _SHARED, str(seed)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)  # two workers; the second reads both files
    ]
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    fresh, collected = json.loads(answers[-1])
    assert fresh == collected
    assert fresh["requests_total"] > 500  # both workers' requests
