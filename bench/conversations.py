"""Conversation overhead next to a bare asyncio + aiohttp loop sending the same turns.

Prints, for 1,000 conversations of 5 scripted turns against a loopback agent with 50 ms
latency (each turn checked with ``contains`` + ``regex`` + ``json_valid``), at concurrency 20
and 100:

- CPU per agent turn (process time of the client process only; the agent runs in its own
  process) of the engine and of a bare loop that sends the same contract bodies
  (``input``, the ``messages`` so far, ``session_id``) turn after turn and checks each reply
  inline, and their ratio;
- wall time next to the floor N x turns x latency / concurrency,

and, with ``--memory``, the peak RSS of 10,000 conversations of 5 turns at concurrency 100
(5 ms latency, in a fresh process).

    python bench/conversations.py            # CPU and wall figures
    python bench/conversations.py --memory   # plus the 10,000-conversation memory figure
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine_overhead import CHECK_PATTERN, CHECK_VALUE, agent_server  # noqa: E402

TURNS = 5


def _said(conversation: int, turn: int) -> str:
    return f"conversation {conversation}, message {turn}"


async def bare_loop(url: str, n: int, concurrency: int) -> int:
    """The floor: aiohttp, a semaphore, the history kept by hand, the checks inline."""
    pattern = re.compile(CHECK_PATTERN)
    passed = 0
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal passed
            async with sem:
                session_id = str(uuid.uuid4())
                messages: list[dict[str, str]] = []
                ok = True
                for turn in range(1, TURNS + 1):
                    said = _said(i, turn)
                    messages.append({"role": "user", "content": said})
                    body = {"input": said, "messages": messages, "session_id": session_id}
                    async with session.post(url, json=body) as resp:
                        raw = await resp.read()
                    output = json.loads(raw)["output"]
                    messages.append({"role": "assistant", "content": output})
                    ok = ok and CHECK_VALUE in output and pattern.search(output) is not None
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
    from aifactory.domain.models import CheckSpec, TestCase, Turn
    from aifactory.engine.case_runner import CaseRunner
    from aifactory.engine.runner import NullSink, RunOptions, run_cases

    checks = [
        CheckSpec(type="contains", value=CHECK_VALUE),
        CheckSpec(type="regex", pattern=CHECK_PATTERN),
        CheckSpec(type="json_valid"),
    ]

    def cases() -> Iterator[TestCase]:
        for i in range(n):
            yield TestCase(
                name=f"conversation {i}",
                turns=[Turn(input=_said(i, t), checks=checks) for t in range(1, TURNS + 1)],
            )

    agent = HTTPAgent(
        HTTPAgentConfig(url=url),  # no body: a turn sends {input, messages, session_id}
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
    turns = n * TURNS
    print(
        f"{n} conversations of {TURNS} turns, agent latency {latency_ms:g} ms, each turn checked "
        "with contains + regex + json_valid"
    )
    print(
        f"{'mode':<10}{'conc':>6}{'cpu ms/turn':>13}{'wall s':>9}{'floor s':>9}"
        f"{'wall/floor':>11}{'cpu ratio':>11}"
    )
    with agent_server(latency_ms) as url:
        measure(bare_loop, url, 100, 20)  # warm up both paths
        measure(engine_run, url, 100, 20)
        for concurrency in (20, 100):
            floor = turns * latency_ms / 1000 / concurrency
            bare_cpu, bare_wall, bare_passed = measure(bare_loop, url, n, concurrency)
            eng_cpu, eng_wall, eng_passed = measure(engine_run, url, n, concurrency)
            assert bare_passed == eng_passed == n, (bare_passed, eng_passed)
            for mode, cpu, wall in (
                ("bare", bare_cpu, bare_wall),
                ("aifactory", eng_cpu, eng_wall),
            ):
                print(
                    f"{mode:<10}{concurrency:>6}{cpu / turns * 1000:>13.3f}{wall:>9.2f}"
                    f"{floor:>9.2f}{wall / floor:>11.2f}{cpu / bare_cpu:>11.2f}"
                )


def memory_child(n: int) -> None:
    with agent_server(5) as url:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        passed = asyncio.run(engine_run(url, n, 100))
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n} conversations of {TURNS} turns at 5 ms, concurrency 100: passed {passed}, "
        f"wall {wall:.1f} s, cpu {cpu / (n * TURNS) * 1000:.3f} ms/turn, peak RSS {peak_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--memory", action="store_true", help="also the 10,000-conversation RSS figure"
    )
    parser.add_argument("--memory-conversations", type=int, default=10_000)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    cpu_and_wall(args.conversations, args.latency_ms)
    if args.memory:
        subprocess.run(
            [sys.executable, __file__, "--memory-child", str(args.memory_conversations)],
            check=True,
            env={**os.environ},
        )


if __name__ == "__main__":
    main()
