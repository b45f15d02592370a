"""How long a catastrophic ``regex`` check takes to give up, and what the event loop saw meanwhile.

The tests prove that the check stops at its time limit with an error and that the loop keeps
running other work; the figures are here. For each limit, the pattern ``(a+)+$`` on 50,000 a's
and a b (a search that would backtrack for longer than anyone waits) runs as a check, while a
ticker sleeps 10 ms at a time. Prints the wall time until the error next to the limit, and the
ticker's worst lateness (how long the loop was held).

    .venv/bin/python bench/regex_limit.py [--limits 0.1,0.5,1,2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.models import AgentReply, CheckSpec, TestCase

PATTERN = "(a+)+$"
TEXT = "a" * 50000 + "b"
TICK_S = 0.01


async def once(limit_s: float) -> tuple[float, float]:
    """Seconds until the check's error, and the ticker's worst lateness in seconds."""
    built = build_check(CheckSpec(type="regex", pattern=PATTERN))
    case = TestCase(name="catastrophic", input="x")
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            worst = max(worst, time.perf_counter() - before - TICK_S)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    result = await run_check(
        built, AgentReply(output=TEXT), case, CheckContext(regex_timeout_s=limit_s)
    )
    took = time.perf_counter() - started
    task.cancel()
    if result.status != "error":
        raise SystemExit(f"expected an error at the limit, got {result.status}: {result.reason}")
    return took, worst


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="0.1,0.5,1,2", help="comma list of seconds")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"regex {PATTERN!r} on {len(TEXT):,} characters, {args.repeat} runs a limit")
    print(f"{'limit':>7} {'gave up after (median, max)':>30} {'loop held (max)':>17}")
    for limit_s in (float(x) for x in args.limits.split(",")):
        runs = [await once(limit_s) for _ in range(args.repeat)]
        took = sorted(t for t, _ in runs)
        held = max(w for _, w in runs)
        print(
            f"{limit_s:>6g}s {took[len(took) // 2]:>18.3f} s, {took[-1]:.3f} s"
            f" {held * 1000:>14.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
