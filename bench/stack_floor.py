"""The floor under the seed's request mix: what the stack alone costs, with nothing of ours.

Serves ``bench/bare_app.py`` (FastAPI on uvicorn, 2 workers, SQLAlchemy's async engine on a fresh
SQLite file, or a scratch PostgreSQL database with ``--postgres``) and drives 50 concurrent users
at each of its routes in turn: ``GET /health`` (no database), ``GET /rows/{id}`` (one read by key)
and ``POST /rows`` (one insert, committed). For each it prints req/s and the CPU per request of
the server, of this load generator and of the rest of the machine (the database server).

It also runs ``--cases`` of the mix's cases through the evaluation engine in this process (the
mix's scripted agent, its checks, no database) and prints the engine's CPU per case.

Then it prices the mix of ``bench/api_mix.py`` at that floor, as if each of its 7 requests cost
no more than the cheapest route of its kind (health and ping as ``/health``; status, results and
metrics as one read; the single run and the 10-case batch as one insert) and the 11 agent cases
a loop runs cost only the engine's grading, with no write of their results, and prints the most
requests a second this machine's cores could then serve, next to the target of 2,125. Not part
of the test suite.

    .venv/bin/python bench/stack_floor.py [--seconds 8] [--users 50] [--cases 20000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from _server import (
    Server,
    bare_server,
    machine_cpu_seconds,
    scratch_postgres,
    tree_cpu_seconds,
)
from api_mix import CASES, mix_agent

from aifactory.bootstrap import runner_factory
from aifactory.domain.models import AgentSpec, TestCase, TestResult
from aifactory.engine.runner import RunOptions, run_cases
from aifactory.settings import load_settings

TARGET_RPS = 2125
CASES_PER_LOOP = 11
ROW = {"name": "refund", "output": "Refunds are possible within 30 days of purchase." * 4}


@dataclass(frozen=True, slots=True)
class Cost:
    """What one route cost per request, in CPU milliseconds."""

    rps: float
    server_ms: float
    client_ms: float
    rest_ms: float

    @property
    def service_ms(self) -> float:
        """Server plus database: what the service side of the machine spends."""
        return self.server_ms + self.rest_ms


async def measure(
    server: Server, request: Callable[[int], tuple[str, str, Any]], users: int, seconds: float
) -> Cost:
    count = 0
    stop = False
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def user(n: int) -> None:
            nonlocal count
            while not stop:
                method, path, body = request(n)
                async with session.request(method, server.base_url + path, json=body) as answer:
                    await answer.read()
                    if answer.status >= 300:
                        raise RuntimeError(f"{method} {path}: HTTP {answer.status}")
                count += 1

        tasks = [asyncio.create_task(user(n)) for n in range(users)]
        await asyncio.sleep(2.0)
        start = (count, time.perf_counter(), tree_cpu_seconds(server.pid), time.process_time())
        machine_start = machine_cpu_seconds()
        await asyncio.sleep(seconds)
        end = (count, time.perf_counter(), tree_cpu_seconds(server.pid), time.process_time())
        machine_end = machine_cpu_seconds()
        stop = True
        await asyncio.gather(*tasks)
    n = end[0] - start[0]
    server_s, client_s = end[2] - start[2], end[3] - start[3]
    rest_s = machine_end - machine_start - server_s - client_s
    return Cost(n / (end[1] - start[1]), server_s / n * 1e3, client_s / n * 1e3, rest_s / n * 1e3)


@contextlib.contextmanager
def database(postgres: bool) -> Iterator[str]:
    if postgres:
        with scratch_postgres("aifactory_floor") as (url, _):
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="aifactory-floor-") as workdir:
        yield f"sqlite+aiosqlite:///{workdir}/floor.db"


async def run(server: Server, users: int, seconds: float) -> dict[str, Cost]:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.post(f"{server.base_url}/rows", json=ROW) as answer:
                answer.raise_for_status()
    routes: dict[str, Callable[[int], tuple[str, str, Any]]] = {
        "GET /health": lambda n: ("GET", "/health", None),
        "GET /rows/{id}": lambda n: ("GET", f"/rows/{n % 100 + 1}", None),
        "POST /rows": lambda n: ("POST", "/rows", ROW),
    }
    return {name: await measure(server, route, users, seconds) for name, route in routes.items()}


class _Discard:
    async def write(self, result: TestResult) -> None:
        return None


async def engine_ms_per_case(count: int) -> float:
    """CPU milliseconds our engine spends on one of the mix's cases (scripted agent, no store)."""
    spec = AgentSpec.model_validate(mix_agent(0, 64))
    cases = [TestCase.model_validate(case) for case in CASES]
    async with runner_factory(load_settings({})) as built:
        agent = built.agent(spec)
        runner = built.case_runner(spec, agent)
        options = RunOptions(concurrency=50)
        await run_cases(cases * 100, runner, _Discard(), options=options)  # warm-up
        started = time.process_time()
        await run_cases(
            (cases[n % len(cases)] for n in range(count)), runner, _Discard(), options=options
        )
        spent = time.process_time() - started
        await agent.aclose()
    return spent / count * 1e3


def report(costs: dict[str, Cost], case_ms: float) -> None:
    print(f"{'route':<16} {'req/s':>8} {'server ms':>10} {'client ms':>10} {'database ms':>12}")
    for name, cost in costs.items():
        print(
            f"{name:<16} {cost.rps:>8,.0f} {cost.server_ms:>10.2f} {cost.client_ms:>10.2f}"
            f" {cost.rest_ms:>12.2f}"
        )
    print(f"{'engine, a case':<16} {'':>8} {case_ms:>10.2f}")
    health, read, write = costs["GET /health"], costs["GET /rows/{id}"], costs["POST /rows"]
    loop_ms = 2 * health.service_ms + 3 * read.service_ms + 2 * write.service_ms
    loop_ms += CASES_PER_LOOP * case_ms
    client_ms = sum(cost.client_ms for cost in costs.values()) / len(costs)
    per_request_ms = loop_ms / 7 + client_ms
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / per_request_ms
    print()
    print(
        f"The mix at this floor: {loop_ms:.2f} ms of service CPU a loop of 7 requests (its"
        f" {CASES_PER_LOOP} agent cases graded, never stored), {client_ms:.2f} ms of load"
        " generator a request:"
    )
    print(
        f"at most {ceiling:,.0f} req/s on {cores} cores at 100% busy"
        f" (target {TARGET_RPS:,} req/s with p99 <= 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    case_ms = asyncio.run(engine_ms_per_case(args.cases))
    with database(args.postgres) as url, bare_server(env={"BARE_DATABASE_URL": url}) as server:
        report(asyncio.run(run(server, args.users, args.seconds)), case_ms)


if __name__ == "__main__":
    main()
