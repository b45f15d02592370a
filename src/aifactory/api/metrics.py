"""Request metrics, true across every worker process of one server.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes prometheus_client keep its values in files
that every worker writes and any worker reads, so ``/metrics`` and ``/api/v1/metrics`` answer
for the whole server whichever worker takes the request. Without it, a private registry per
app keeps the numbers (one process, and tests that build many apps).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    """The shared metrics directory when running under several processes."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The service's counters and the request-duration histogram."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "aifactory_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aifactory_http_request_duration_seconds",
            "Time to answer HTTP requests.",
            buckets=BUCKETS_S,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the request middleware)."""
        if route in ("/metrics",):
            return
        self.requests.labels(method, route, str(status)).inc()
        self.duration.observe(seconds)

    def _collecting_registry(self) -> CollectorRegistry:
        directory = multiprocess_dir()
        if directory is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return registry

    def exposition(self) -> bytes:
        """The Prometheus text format of every process's metrics."""
        return generate_latest(self._collecting_registry())

    def snapshot(self) -> dict[str, Any]:
        """Totals, error rate and response-time percentiles across processes."""
        requests_total = 0.0
        errors_total = 0.0
        count = 0.0
        total_s = 0.0
        buckets: list[tuple[float, float]] = []
        for family in self._collecting_registry().collect():
            if family.name == "aifactory_http_requests":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        requests_total += sample.value
                        if sample.labels.get("status", "").startswith("5"):
                            errors_total += sample.value
            elif family.name == "aifactory_http_request_duration_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_bucket"):
                        buckets.append((float(sample.labels["le"]), sample.value))
                    elif sample.name.endswith("_count"):
                        count += sample.value
                    elif sample.name.endswith("_sum"):
                        total_s += sample.value
        merged: dict[float, float] = {}
        for le, value in buckets:
            merged[le] = merged.get(le, 0.0) + value
        ordered = sorted(merged.items())
        return {
            "requests_total": int(requests_total),
            "errors_total": int(errors_total),
            "error_rate": (errors_total / requests_total) if requests_total else 0.0,
            "response_time_ms": {
                "avg": (total_s / count * 1000) if count else 0.0,
                "p50": _quantile(ordered, count, 0.50) * 1000,
                "p95": _quantile(ordered, count, 0.95) * 1000,
                "p99": _quantile(ordered, count, 0.99) * 1000,
            },
        }

    def uptime_s(self) -> float:
        return time.monotonic() - self.started


def _quantile(cumulative: list[tuple[float, float]], count: float, q: float) -> float:
    """Estimate a quantile from cumulative histogram buckets, linear within a bucket."""
    if count <= 0:
        return 0.0
    rank = q * count
    previous_le = 0.0
    previous_count = 0.0
    for le, cum in cumulative:
        if cum >= rank:
            if le == float("inf"):
                return previous_le
            in_bucket = cum - previous_count
            if in_bucket <= 0:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / in_bucket
        previous_le, previous_count = le, cum
    return previous_le
