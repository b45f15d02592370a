"""Request metrics, true across every worker process of one server.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes prometheus_client keep its values in files
that every worker writes and any worker reads, so ``/metrics`` and ``/api/v1/metrics`` answer
for the whole server whichever worker takes the request. Without it, a private registry per
app keeps the numbers (one process, and tests that build many apps).

``/api/v1/metrics`` needs five numbers of the two request metrics, not the registry: with a
shared directory it reads them from the counter and histogram files alone, each file's keys
parsed once per process (collecting the directory parsed and merged every sample of every
file, about 0.6 ms for one process's files); in one process it reads plain tallies kept beside
the registry. Both give what collecting the registry gives (:func:`collected_snapshot`).
"""

from __future__ import annotations

import glob
import json
import os
import time
from bisect import bisect_left
from collections import defaultdict
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.mmap_dict import MmapedDict
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
_REQUESTS = "aifactory_http_requests_total"
_BUCKET = "aifactory_http_request_duration_seconds_bucket"
_SUM = "aifactory_http_request_duration_seconds_sum"


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
        self._children: dict[tuple[str, str, int], Any] = {}
        # This process's numbers as plain values, as the registry holds them: what snapshot()
        # reads without a shared directory (collecting the registry costs far more).
        self._requests = 0
        self._errors = 0
        self._in_bucket = [0] * (len(BUCKETS_S) + 1)  # the last: above every bucket (+Inf)
        self._sum_s = 0.0
        # A shared file's keys (JSON of the metric, sample name and labels), parsed once.
        self._keys: dict[str, tuple[str, dict[str, str]]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the request middleware)."""
        if route in ("/metrics",):
            return
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(method, route, str(status))
        child.inc()
        self.duration.observe(seconds)
        self._requests += 1
        if 500 <= status < 600:
            self._errors += 1
        # The first bucket whose bound is at least ``seconds``, as the histogram picks it.
        self._in_bucket[bisect_left(BUCKETS_S, seconds)] += 1
        self._sum_s += seconds

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
        directory = multiprocess_dir()
        if directory is not None:
            return self._shared_snapshot(directory)
        cumulative = 0
        ordered = []
        for le, n in zip((*BUCKETS_S, float("inf")), self._in_bucket, strict=True):
            cumulative += n
            ordered.append((le, float(cumulative)))
        return _snapshot(
            float(self._requests), float(self._errors), float(cumulative), self._sum_s, ordered
        )

    def _shared_snapshot(self, directory: str) -> dict[str, Any]:
        """The snapshot of every process's counter and histogram files in ``directory``."""
        requests_total = 0.0
        errors_total = 0.0
        total_s = 0.0
        in_bucket: dict[float, float] = defaultdict(float)
        keys = self._keys
        # The files in the order prometheus_client's collector reads them, so the sums are the
        # same to the last bit.
        for path in glob.glob(os.path.join(directory, "*.db")):
            if not os.path.basename(path).startswith(("counter_", "histogram_")):
                continue
            values = MmapedDict.read_all_values_from_file(path)  # type: ignore[no-untyped-call]
            for key, value, _, _ in values:
                parsed = keys.get(key)
                if parsed is None:
                    _, name, labels, _ = json.loads(key)
                    parsed = keys[key] = (name, labels)
                name, labels = parsed
                if name == _REQUESTS:
                    requests_total += value
                    if labels.get("status", "").startswith("5"):
                        errors_total += value
                elif name == _BUCKET:
                    in_bucket[float(labels["le"])] += value
                elif name == _SUM:
                    total_s += value
        cumulative = 0.0
        ordered = []
        for le, n in sorted(in_bucket.items()):
            cumulative += n
            ordered.append((le, cumulative))
        return _snapshot(requests_total, errors_total, cumulative, total_s, ordered)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started


def collected_snapshot(registry: CollectorRegistry) -> dict[str, Any]:
    """:meth:`Metrics.snapshot` of the request metrics a registry collects (every process's)."""
    requests_total = 0.0
    errors_total = 0.0
    count = 0.0
    total_s = 0.0
    buckets: list[tuple[float, float]] = []
    for family in registry.collect():
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
    return _snapshot(requests_total, errors_total, count, total_s, sorted(merged.items()))


def _snapshot(
    requests_total: float,
    errors_total: float,
    count: float,
    total_s: float,
    ordered: list[tuple[float, float]],
) -> dict[str, Any]:
    """The snapshot of totals and cumulative duration buckets (ascending bounds)."""
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
