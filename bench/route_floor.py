"""Server CPU per request on each seed route: ours against a bare twin, per route, in one run.

The goal: each route within 1.5x the server CPU a bare FastAPI + SQLAlchemy app spends
doing the same statements. Starts ``aifactory serve --workers 1`` on a fresh SQLite file
(``--postgres``: a scratch PostgreSQL database), registers ``mix-bot`` (``bench/api_mix.py``: the
demo agent's scripted answers, no latency) and submits one 10-case batch to read; then serves
``bench/bare_routes.py`` (uvicorn, 1 worker) on the same database beside it. Route by route, it
drives ``--users`` concurrent users (one aiohttp session in this process) at ours, then at the
twin, each for ``--warmup`` unmeasured then ``--seconds`` measured seconds, and prints req/s and
the server's CPU milliseconds a request (user + system, from /proc, over the server's process
tree) for both, their ratio against the 1.5x target, and /proc/loadavg before and after. On a
busy machine the figures move by a third from run to run; ``--rounds N`` alternates ours and
the twin N times a route and pools them, so both see the same noise.

What the two sides do, and what is left out:

- Same requests to both, with the same ``Authorization`` header and ``Accept-Encoding: gzip``
  (both compress answers of 1 KiB or more with Starlette's ``GZipMiddleware``). The twin
  authenticates nobody: our key check, request ids, rate limits, request metrics and logging are
  counted against ours.
- The twins are pinned to the statements each route issued when this was written (listed in
  ``bench/bare_routes.py``), the figure the goal names: if a route later drops a
  statement, its twin keeps it.
- ``POST /api/v1/test/batch``: only the request path is measured. Ours runs with
  ``AIFACTORY_BATCH_RUNNER=process`` and no batch runner, so the batches it accepts are stored
  and never run (a batch runner process is started for the seed batch alone and stopped before
  any measurement); a ``batch-runner`` process under the server would not be counted. The run
  checks that the accepted batches stayed queued, and says so if they did not.
- ``POST /api/v1/test/run`` runs the case on both: ours through its engine, the twin through a
  few lines of matching and grading; both write a run and a result and bump the agent's count.

Not part of the test suite.

    .venv/bin/python bench/route_floor.py [--seconds 5] [--warmup 1.5] [--users 50] [--rounds 1]
        [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from _server import ROOT, Server, aifactory_server, bare_server, descendants
from api_mix import AGENT, CASES, mix_agent

TARGET_RATIO = 1.5
BATCH = CASES + CASES
Request = Callable[[int], tuple[str, str, Any]]


@dataclass(frozen=True, slots=True)
class Cost:
    """One route on one server: requests counted, their server CPU, over how long, failures."""

    requests: int
    cpu_s: float
    elapsed_s: float
    errors: int

    @property
    def rps(self) -> float:
        """Requests a second."""
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def server_ms(self) -> float:
        """Server CPU milliseconds a request."""
        return self.cpu_s / max(self.requests, 1) * 1e3

    def __add__(self, other: Cost) -> Cost:
        """Two measurements pooled: their requests, CPU and time added up."""
        return Cost(
            self.requests + other.requests,
            self.cpu_s + other.cpu_s,
            self.elapsed_s + other.elapsed_s,
            self.errors + other.errors,
        )


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (from /proc/loadavg)."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants, batch runners left out."""
    ticks = 0
    for current in descendants(pid):
        try:
            with open(f"/proc/{current}/cmdline", "rb") as cmdline:
                if b"batch-runner" in cmdline.read():
                    continue
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def routes(run_id: str) -> dict[str, Request]:
    """The seed's routes, each as the request user ``n`` sends."""
    return {
        "GET /health": lambda n: ("GET", "/health", None),
        "GET /ping": lambda n: ("GET", "/ping", None),
        "GET /test/status/{id}": lambda n: ("GET", f"/api/v1/test/status/{run_id}", None),
        "GET /agents/{id}/results": lambda n: ("GET", f"/api/v1/agents/{AGENT}/results", None),
        "GET /metrics": lambda n: ("GET", "/api/v1/metrics", None),
        "POST /test/run": lambda n: (
            "POST",
            "/api/v1/test/run",
            {"agent_id": AGENT, "test_case": CASES[n % len(CASES)]},
        ),
        "POST /test/batch (10)": lambda n: (
            "POST",
            "/api/v1/test/batch",
            {"agent_id": AGENT, "test_cases": BATCH, "name": f"floor user {n}"},
        ),
    }


async def measure(
    server: Server, headers: dict[str, str], request: Request, users: int, warmup_s: float,
    seconds: float,
) -> tuple[Cost, list[Any]]:  # fmt: skip
    """Drive ``users`` at one route; returns its cost and the JSON of the last answers."""
    count = errors = 0
    measuring = stop = False
    last: list[Any] = []
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:

        async def user(n: int) -> None:
            nonlocal count, errors
            while not stop:
                method, path, body = request(n)
                async with session.request(method, server.base_url + path, json=body) as answer:
                    payload = await answer.read()
                    ok = 200 <= answer.status < 300
                if measuring:
                    count += 1
                    errors += not ok
                if ok and len(last) < users:
                    last.append(payload)

        tasks = [asyncio.create_task(user(n)) for n in range(users)]
        await asyncio.sleep(warmup_s)
        measuring = True
        started, cpu = time.perf_counter(), server_cpu_seconds(server.pid)
        await asyncio.sleep(seconds)
        elapsed, cpu = time.perf_counter() - started, server_cpu_seconds(server.pid) - cpu
        measuring = False
        stop = True
        await asyncio.gather(*tasks)
    return Cost(count, cpu, elapsed, errors), last


async def seed(server: Server) -> str:
    """Register ``mix-bot``, run one 10-case batch to its end; returns the batch's run id."""
    agent = mix_agent(0, 64)
    async with aiohttp.ClientSession(headers=server.headers) as session:
        async with session.get(f"{server.base_url}/health") as answer:
            backend = (await answer.json())["queue"]["backend"]
        async with session.post(f"{server.base_url}/api/v1/agents", json=agent) as answer:
            if answer.status != 201:
                raise SystemExit(f"registering {AGENT} failed: {await answer.text()}")
        body = {"agent_id": AGENT, "test_cases": BATCH, "name": "floor seed"}
        async with session.post(f"{server.base_url}/api/v1/test/batch", json=body) as answer:
            run_id: str = (await answer.json())["run_id"]
        runner = None
        if backend == "process":  # stored for a batch runner: run one until the seed is done
            env = {**os.environ, "DATABASE_URL": server.database_url, "LOG_LEVEL": "WARNING"}
            argv = [sys.executable, "-m", "aifactory", "batch-runner"]
            runner = await asyncio.create_subprocess_exec(*argv, env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                url = f"{server.base_url}/api/v1/test/status/{run_id}"
                async with session.get(url) as answer:
                    if (await answer.json())["status"] == "completed":
                        return run_id
                await asyncio.sleep(0.2)
        finally:
            if runner is not None:
                runner.terminate()
                await asyncio.wait_for(runner.wait(), timeout=30)
    raise SystemExit("The seed batch did not complete within 60 s.")


async def still_queued(server: Server, answers: list[Any]) -> tuple[int, int]:
    """How many of the batches ``answers`` accepted are still queued, of how many."""
    queued = 0
    async with aiohttp.ClientSession(headers=server.headers) as session:
        for payload in answers:
            url = f"{server.base_url}/api/v1/test/status/{json.loads(payload)['run_id']}"
            async with session.get(url) as answer:
                queued += (await answer.json())["status"] == "queued"
    return queued, len(answers)


def report(label: str, table: dict[str, tuple[Cost, Cost]], notes: list[str]) -> None:
    print(label)
    print(
        f"{'route':<26} {'ours req/s':>10} {'ours ms':>8} {'bare req/s':>10} {'bare ms':>8}"
        f" {'ratio':>6}  target {TARGET_RATIO:g}x"
    )
    for name, (ours, bare) in table.items():
        ratio = ours.server_ms / bare.server_ms if bare.server_ms else float("inf")
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        errors = (
            f"  errors: ours {ours.errors}, bare {bare.errors}"
            if ours.errors or bare.errors
            else ""
        )
        print(
            f"{name:<26} {ours.rps:>10,.0f} {ours.server_ms:>8.2f} {bare.rps:>10,.0f}"
            f" {bare.server_ms:>8.2f} {ratio:>5.2f}x  {verdict}{errors}"
        )
    print(
        "bare: bench/bare_routes.py, today's statements, no auth (ours checks a key on every"
        " /api/v1 request), gzip on both"
    )
    for note in notes:
        print(note)


async def compare(
    ours: Server, bare: Server, run_id: str, args: argparse.Namespace
) -> tuple[dict[str, tuple[Cost, Cost]], list[str]]:
    """Each route on ours then on the twin, ``args.rounds`` times in turn; the pooled figures,
    and notes on what they include."""
    table: dict[str, tuple[Cost, Cost]] = {}
    notes: list[str] = []
    load = (args.users, args.warmup, args.seconds)
    for name, request in routes(run_id).items():
        answers: list[Any] = []
        for _ in range(args.rounds):
            ours_cost, answers = await measure(ours, ours.headers, request, *load)
            bare_cost, _ = await measure(bare, ours.headers, request, *load)
            pooled = table.get(name)
            table[name] = (
                (pooled[0] + ours_cost, pooled[1] + bare_cost) if pooled else (ours_cost, bare_cost)
            )
        if name.startswith("POST /test/batch"):
            queued, of = await still_queued(ours, answers)
            if queued < of:
                notes.append(
                    f"WARNING: {of - queued} of {of} batches ours accepted did not stay queued:"
                    " ours ran them, so its batch figure includes running their cases"
                )
            else:
                notes.append(
                    f"batch: the {of} of ours' batches looked at stayed queued (never run): its"
                    " figure is the request path alone, as the twin's"
                )
    return table, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds a route")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds first")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=1, help="ours then bare, this many times a route, pooled"
    )
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    args = parser.parse_args()
    before = loadavg()
    env = {"AIFACTORY_BATCH_RUNNER": "process"}
    with aifactory_server(workers=1, postgres=args.postgres, env=env) as ours:
        run_id = asyncio.run(seed(ours))
        bare_env = {"BARE_DATABASE_URL": ours.database_url}
        with bare_server(workers=1, app="bare_routes:app", env=bare_env) as bare:
            table, notes = asyncio.run(compare(ours, bare, run_id, args))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    rounds = f", {args.rounds} rounds pooled" if args.rounds > 1 else ""
    report(
        f"{backend}: {args.users} users, {args.seconds:g} s measured a route after"
        f" {args.warmup:g} s warm-up{rounds}, 1 server process each; server CPU ms a request",
        table,
        notes,
    )
    print(f"load average before: {before}; after: {loadavg()} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
