"""Request metrics: the snapshot of one process's tallies is the registry's, collected."""

from __future__ import annotations

import random

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
