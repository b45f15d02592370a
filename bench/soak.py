"""Soak: steady load on a real server for a long while; memory from minute 20 to the end.

Starts ``aifactory serve --workers 1`` with the demo agent on a fresh SQLite file (``--postgres``
for a scratch PostgreSQL database) and sends ``--rate`` requests a second of the seed's mix
(``/health``, ``/ping``, ``POST /api/v1/test/run``, the agent's results, a run's status,
``/api/v1/metrics``) plus a 10-case batch every ``--batch-every`` seconds, for ``--minutes``
(default 60). The server's resident memory (its process and any children) is sampled after a
warm-up, at ``--from-minute`` (default 20), every ``--sample-every`` minutes (default 5) and at
the end. The script prints the growth from the sample at ``--from-minute`` to the end (the
goal: under 3% from minute 20 to minute 60, once caches and pools have filled), the
growth from the warm-up to the end (goal: under 10%), requests sent, errors (any non-2xx or
failed request), batches completed, and /proc/loadavg before and after. Not part of the test
suite. A short trial scales the minutes down: ``--minutes 1 --from-minute 0.3 --sample-every
0.25``.

    .venv/bin/python bench/soak.py [--minutes 60] [--from-minute 20] [--rate 20]
        [--batch-every 5] [--sample-every 5] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp
from _server import Server, aifactory_server, descendants

FROM_MINUTE_GOAL_PCT = 3.0
OVERALL_GOAL_PCT = 10.0

AGENT = "demo-support-bot"
CASES: list[dict[str, Any]] = [
    {"name": f"case {i}", "input": q, "checks": [{"type": "contains", "value": "30 days"}]}
    for i, q in enumerate(["Can I get a refund?", "Where is my order?"] * 5)
]


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB (from /proc)."""
    total = 0
    for current in descendants(pid):
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Load:
    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.sent = 0
        self.errors: Counter[str] = Counter()
        self.runs: list[str] = []

    async def call(self, name: str, method: str, path: str, body: Any = None) -> Any:
        self.sent += 1
        try:
            async with self.session.request(
                method, f"{self.server.base_url}{path}", json=body, headers=self.server.headers
            ) as response:
                payload = await response.json(content_type=None)
                if response.status >= 300:
                    self.errors[f"{name} {response.status}"] += 1
                return payload
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.errors[f"{name} {type(exc).__name__}"] += 1
            return None

    def request(self, n: int) -> Any:
        case = CASES[n % len(CASES)]
        run = self.runs[-1] if self.runs else None
        mix = [
            ("health", "GET", "/health", None),
            ("ping", "GET", "/ping", None),
            ("run", "POST", "/api/v1/test/run", {"agent_id": AGENT, "test_case": case}),
            ("results", "GET", f"/api/v1/agents/{AGENT}/results", None),
            ("status", "GET", f"/api/v1/test/status/{run}" if run else "/ping", None),
            ("metrics", "GET", "/api/v1/metrics", None),
        ]
        return self.call(*mix[n % len(mix)])

    async def batch(self) -> None:
        body = {"agent_id": AGENT, "test_cases": CASES}
        answer = await self.call("batch", "POST", "/api/v1/test/batch", body)
        if isinstance(answer, dict) and "run_id" in answer:
            self.runs.append(answer["run_id"])


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (from /proc/loadavg)."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def growth_pct(first: int, last: int) -> float:
    """How much ``last`` is above ``first``, in percent."""
    return (last - first) / first * 100


async def drive(
    server: Server,
    minutes: float,
    rate: float,
    batch_every: float,
    sample_every_s: float,
    from_minute: float,
) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        load = Load(server, session)
        tasks: set[asyncio.Task[Any]] = set()

        def spawn(coro: Any) -> None:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        warmup_s = min(30.0, minutes * 60 / 10)
        duration_s = minutes * 60
        start = time.monotonic()
        next_batch = start
        n = 0
        rss_start: int | None = None
        rss_from: int | None = None
        next_sample = start + sample_every_s
        while (now := time.monotonic()) - start < duration_s:
            if rss_start is None and now - start >= warmup_s:
                rss_start = rss_kib(server.pid)
                print(f"RSS after {warmup_s:.0f} s warm-up: {rss_start / 1024:.1f} MiB", flush=True)
            if rss_from is None and now - start >= from_minute * 60:
                rss_from = rss_kib(server.pid)
                print(f"RSS at minute {from_minute:g}: {rss_from / 1024:.1f} MiB", flush=True)
            if now >= next_sample:
                minute = (now - start) / 60
                print(
                    f"RSS at {round(minute, 1):g} min: {rss_kib(server.pid) / 1024:.1f} MiB",
                    flush=True,
                )
                next_sample += sample_every_s
            if now >= next_batch:
                spawn(load.batch())
                next_batch += batch_every
            spawn(load.request(n))
            n += 1
            # A steady schedule: the n-th request goes at start + n / rate, however long
            # the previous ones took.
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3)  # let the last batches finish
        rss_end = rss_kib(server.pid)
        completed = 0
        for run_id in load.runs:
            status = await load.call("final-status", "GET", f"/api/v1/test/status/{run_id}")
            completed += isinstance(status, dict) and status.get("status") == "completed"
        elapsed = time.monotonic() - start
        assert rss_start is not None
        every = f"a batch every {batch_every:g} s"
        print(f"duration: {elapsed / 60:.1f} min at {rate:g} req/s + {every}")
        print(f"requests: {load.sent}, errors: {sum(load.errors.values())} {dict(load.errors)}")
        print(f"batches: {len(load.runs)} started, {completed} completed")
        if rss_from is None:
            print(f"RSS from minute {from_minute:g}: no sample (the soak ended before it)")
        else:
            print(
                f"RSS from minute {from_minute:g} to the end: {rss_from / 1024:.1f} MiB to"
                f" {rss_end / 1024:.1f} MiB, growth {growth_pct(rss_from, rss_end):+.1f}%"
                f" (goal < {FROM_MINUTE_GOAL_PCT:g}%)"
            )
        print(
            f"RSS from the warm-up to the end: {rss_start / 1024:.1f} MiB to"
            f" {rss_end / 1024:.1f} MiB, growth {growth_pct(rss_start, rss_end):+.1f}%"
            f" (goal < {OVERALL_GOAL_PCT:g}%)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--from-minute", type=float, default=20.0, help="the sample the growth is measured from"
    )
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--batch-every", type=float, default=5.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--sample-every", type=float, default=5.0, help="minutes between samples")
    args = parser.parse_args()
    before = loadavg()
    with aifactory_server(workers=1, seed_demo=True, postgres=args.postgres) as server:
        asyncio.run(
            drive(
                server,
                args.minutes,
                args.rate,
                args.batch_every,
                args.sample_every * 60,
                args.from_minute,
            )
        )
    print(f"load average before: {before}; after: {loadavg()}")


if __name__ == "__main__":
    main()
