"""Engine overhead next to a bare asyncio + aiohttp loop doing the same requests and checks.

Prints, for 1,000 cases against a loopback agent with 50 ms latency and the checks
``contains`` + ``regex`` + ``json_valid``, at concurrency 20 and 100:

- CPU per case (process time of the client process only; the agent runs in its own process),
- wall time next to the floor N x latency / concurrency,

and, with ``--memory``, the peak RSS of 100,000 cases at 5 ms latency (in a fresh process).

    python bench/engine_overhead.py            # CPU and wall figures
    python bench/engine_overhead.py --memory   # plus the 100,000-case memory figure
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
CHECK_VALUE = "30 days"
CHECK_PATTERN = r'"n":\s*\d+'


@contextlib.contextmanager
def agent_server(latency_ms: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "agent_server.py"), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/agent"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def bare_loop(url: str, n: int, concurrency: int) -> int:
    """The floor: aiohttp, a semaphore, and the three checks written inline."""
    pattern = re.compile(CHECK_PATTERN)
    passed = 0
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal passed
            async with sem:
                async with session.post(url, json={"input": f"question {i}"}) as resp:
                    body = await resp.read()
                output = json.loads(body)["output"]
                ok = CHECK_VALUE in output and pattern.search(output) is not None
                try:
                    json.loads(output)
                except ValueError:
                    ok = False
                passed += ok

        await asyncio.gather(*(one(i) for i in range(n)))
    return passed


async def engine_run(url: str, n: int, concurrency: int) -> int:
    from aifactory.agents.http import HTTPAgent
    from aifactory.agents.ssrf import AddressPolicy
    from aifactory.domain.agent_config import HTTPAgentConfig
    from aifactory.domain.checks import CheckContext
    from aifactory.domain.models import CheckSpec, TestCase
    from aifactory.engine.case_runner import CaseRunner
    from aifactory.engine.runner import NullSink, RunOptions, run_cases

    checks = [
        CheckSpec(type="contains", value=CHECK_VALUE),
        CheckSpec(type="regex", pattern=CHECK_PATTERN),
        CheckSpec(type="json_valid"),
    ]

    def cases() -> Iterator[TestCase]:
        for i in range(n):
            yield TestCase(name=f"case {i}", input=f"question {i}", checks=checks)

    agent = HTTPAgent(
        HTTPAgentConfig(url=url, body={"input": "{{input}}"}),
        policy=AddressPolicy(["127.0.0.1"]),
        max_connections=concurrency,
    )
    runner = CaseRunner(agent=agent, ctx=CheckContext(), agent_key="bench")
    try:
        summary = await run_cases(
            cases(), runner, NullSink(), options=RunOptions(concurrency=concurrency), total=n
        )
    finally:
        await agent.aclose()
    return summary.passed


def measure(fn: object, url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    passed = asyncio.run(fn(url, n, concurrency))  # type: ignore[operator]
    return time.process_time() - cpu0, time.perf_counter() - wall0, passed


def cpu_and_wall(n: int, latency_ms: float) -> None:
    print(f"{n} cases, agent latency {latency_ms:g} ms, checks contains + regex + json_valid")
    print(
        f"{'mode':<10}{'conc':>6}{'cpu ms/case':>13}{'wall s':>9}{'floor s':>9}"
        f"{'wall/floor':>11}{'cpu ratio':>11}"
    )
    with agent_server(latency_ms) as url:
        measure(bare_loop, url, 200, 20)  # warm up both paths
        measure(engine_run, url, 200, 20)
        for concurrency in (20, 100):
            floor = n * latency_ms / 1000 / concurrency
            bare_cpu, bare_wall, bare_passed = measure(bare_loop, url, n, concurrency)
            eng_cpu, eng_wall, eng_passed = measure(engine_run, url, n, concurrency)
            assert bare_passed == eng_passed == n, (bare_passed, eng_passed)
            for mode, cpu, wall in (
                ("bare", bare_cpu, bare_wall),
                ("aifactory", eng_cpu, eng_wall),
            ):
                print(
                    f"{mode:<10}{concurrency:>6}{cpu / n * 1000:>13.3f}{wall:>9.2f}{floor:>9.2f}"
                    f"{wall / floor:>11.2f}{cpu / bare_cpu:>11.2f}"
                )


def memory_child(n: int) -> None:
    with agent_server(5) as url:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        passed = asyncio.run(engine_run(url, n, 100))
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n} cases at 5 ms, concurrency 100: passed {passed}, wall {wall:.1f} s, "
        f"cpu {cpu / n * 1000:.3f} ms/case, peak RSS {peak_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--memory", action="store_true", help="also the 100,000-case RSS figure")
    parser.add_argument("--memory-cases", type=int, default=100_000)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    cpu_and_wall(args.cases, args.latency_ms)
    if args.memory:
        subprocess.run(
            [sys.executable, __file__, "--memory-child", str(args.memory_cases)],
            check=True,
            env={**os.environ},
        )


if __name__ == "__main__":
    main()
