"""``GET /health`` throughput at 50 connections: aifactory against a bare FastAPI app, same run.

Serves ``bench/bare_app.py`` and ``aifactory serve`` (fresh SQLite file, or PostgreSQL with
``--postgres``), each with uvicorn and the same number of workers, drives them in turn with wrk
(same duration, alternating rounds after a warm-up), and prints the median req/s of each and
their ratio (the target: at least half the bare app's). Needs wrk (Debian: ``apt-get install -y
wrk``). Not part of the test suite.

    .venv/bin/python bench/api_health.py [--connections 50] [--duration 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys

from _server import Server, aifactory_server, bare_server


def wrk(server: Server, *, threads: int, connections: int, duration_s: int) -> tuple[float, str]:
    """Run wrk against ``/health``; return req/s and wrk's own report."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        f"{server.base_url}/health",
    ]
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"Could not read wrk's output:\n{output}")
    if "Non-2xx" in output or "Socket errors" in output:
        print("warning: wrk saw errors (see its report below)", file=sys.stderr)
    return float(match.group(1)), output


def measure(server: Server, args: argparse.Namespace, label: str) -> float:
    rate, report = wrk(
        server, threads=args.threads, connections=args.connections, duration_s=args.duration
    )
    print(f"--- {label}: wrk -t{args.threads} -c{args.connections} -d{args.duration}s /health")
    print(report.rstrip())
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements each")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server")
    parser.add_argument("--postgres", action="store_true", help="aifactory on PostgreSQL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed. On Debian/Ubuntu: 'apt-get update && apt-get install -y wrk';"
            " on macOS: 'brew install wrk'."
        )

    # Both servers stay up (idle) and take turns, so background load on the machine falls on
    # both alike; the median of the rounds is the figure.
    bare_rates: list[float] = []
    ours_rates: list[float] = []
    with (
        bare_server(workers=args.workers) as bare,
        aifactory_server(workers=args.workers, postgres=args.postgres) as ours,
    ):
        for server in (bare, ours):  # warm-up
            wrk(server, threads=args.threads, connections=args.connections, duration_s=2)
        for n in range(1, args.rounds + 1):
            bare_rates.append(measure(bare, args, f"round {n}, bare FastAPI"))
            ours_rates.append(measure(ours, args, f"round {n}, aifactory"))

    backend = "PostgreSQL" if args.postgres else "SQLite"
    bare_rate, ours_rate = statistics.median(bare_rates), statistics.median(ours_rates)
    print()
    print(
        f"GET /health, {args.connections} connections, {args.workers} uvicorn workers,"
        f" median of {args.rounds} x {args.duration} s"
    )
    rounds = ", ".join(f"{r:,.0f}" for r in bare_rates)
    print(f"  bare FastAPI            {bare_rate:9,.0f} req/s   (rounds: {rounds})")
    rounds = ", ".join(f"{r:,.0f}" for r in ours_rates)
    print(f"  aifactory ({backend:<10})  {ours_rate:9,.0f} req/s   (rounds: {rounds})")
    verdict = "meets" if ours_rate >= bare_rate / 2 else "MISSES"
    print(f"  ratio                   {ours_rate / bare_rate:9.2f}  ({verdict} the >= 0.50 target)")


if __name__ == "__main__":
    main()
