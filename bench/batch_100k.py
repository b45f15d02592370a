"""A 100,000-case batch through the real server: accepted at once, run in bounded memory.

Starts ``aifactory serve`` (one process, the embedded in-process queue) on a fresh SQLite file,
submits 100,000 small cases against a scripted agent with 5 ms latency, and prints how long the
202 took, the throughput while the run drains, and the server's RSS at start, peak and end.

    python bench/batch_100k.py [--cases 100000] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from _server import Server, aifactory_server


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MiB."""
    total_kb = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total_kb / 1024


def call(server: Server, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.base_url + path,
        data=data,
        method=method,
        headers={**server.headers, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with aifactory_server(
        workers=1, postgres=args.postgres, env={"AIFACTORY_MAX_BODY_BYTES": str(64 * 1024 * 1024)}
    ) as server:
        call(
            server,
            "POST",
            "/api/v1/agents",
            {
                "id": "bench-bot",
                "kind": "scripted",
                "max_concurrency": 64,
                "rate_limit_per_minute": 10_000_000,
                "config": {"default": "refunds within 30 days", "latency_ms": 5},
            },
        )
        cases = [
            {
                "name": f"c{i}",
                "input": f"q{i}",
                "checks": [{"type": "contains", "value": "30 days"}],
            }
            for i in range(args.cases)
        ]
        body = {"agent_id": "bench-bot", "test_cases": cases}
        start_rss = rss_mb(server.pid)
        started = time.perf_counter()
        accepted = call(server, "POST", "/api/v1/test/batch", body)
        accept_s = time.perf_counter() - started
        del cases, body
        peak = start_rss
        run_started = time.perf_counter()
        while True:
            status = call(
                server, "GET", f"/api/v1/test/status/{accepted['run_id']}?results_limit=0"
            )
            peak = max(peak, rss_mb(server.pid))
            if status["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(1.0)
        wall = time.perf_counter() - run_started
        print(
            f"{args.cases} cases ({'PostgreSQL' if args.postgres else 'SQLite'}): "
            f"202 after {accept_s:.2f} s; run {status['status']} in {wall:.1f} s "
            f"({status['completed'] / wall:.0f} cases/s); passed {status['passed']}, "
            f"errors {status['errored']}"
        )
        print(
            f"server RSS: start {start_rss:.0f} MiB, peak {peak:.0f} MiB, "
            f"end {rss_mb(server.pid):.0f} MiB"
        )


if __name__ == "__main__":
    main()
