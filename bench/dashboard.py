"""How fast does the dashboard render a 10,000-case run? Prints page render times.

Builds two finished 10,000-case runs of one agent in a scratch SQLite database (the bulk loader
of ``bench/reports.py``), starts the app in-process, signs in through the sign-in form, and times
full page requests through the ASGI stack (routing, session check, queries, templates):

- the run page (goal: under 1 s): its first page of cases, the failed cases, a deep page;
- the runs list, the agent page (trend over both runs) and the compare page of the two runs.

The run page shows 50 cases a page; it never renders 10,000 rows at once.

    .venv/bin/python bench/dashboard.py [--cases 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from reports import seed_run

from aifactory.api.app import create_app
from aifactory.domain.models import AgentSpec
from aifactory.settings import load_settings
from aifactory.store import agents_repo, migrate
from aifactory.store.database import Database

KEY = "afk_bench-dashboard-key-0123456789abcdefghijklmn"
GOAL_S = 1.0


async def sign_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/signin")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if match is None:
        raise RuntimeError("The sign-in page has no CSRF token.")
    answer = await http.post("/signin", data={"api_key": KEY, "csrf_token": match.group(1)})
    if answer.status_code != 303:
        raise RuntimeError(f"Signing in answered {answer.status_code}.")


async def timed(
    http: httpx.AsyncClient, label: str, path: str, repeat: int, goal: float | None
) -> None:
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = await http.get(path)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        size = len(response.content)
    median = statistics.median(times)
    verdict = "" if goal is None else ("  ok" if median < goal else f"  OVER the {goal} s goal")
    print(
        f"{label:<44} median {median * 1000:8.1f} ms   best {min(times) * 1000:8.1f} ms"
        f"   {size / 1024:7.1f} KiB{verdict}"
    )


async def main(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db = Database.from_url(url)
        await migrate.upgrade(db.engine)
        async with db.write() as session:
            await agents_repo.create_agent(
                session, AgentSpec(id="bench-bot", kind="scripted", config={"default": "ok"})
            )
        started = time.perf_counter()
        base = await seed_run(db, n, 1, fail_rate=0.20, seed=1)
        head = await seed_run(db, n, 1, fail_rate=0.25, seed=2)
        await db.dispose()
        print(f"seeded two {n:,}-case runs in {time.perf_counter() - started:.1f} s")

        app = create_app(load_settings({"DATABASE_URL": url, "AIFACTORY_API_KEYS": KEY}))
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b") as http,
        ):
            await sign_in(http)
            await timed(http, f"run page ({n:,} cases, first 50)", f"/runs/{base}", repeat, GOAL_S)
            await timed(
                http, "run page, failed cases", f"/runs/{base}?status=failed", repeat, GOAL_S
            )
            await timed(
                http,
                "run page, failed + tag",
                f"/runs/{base}?status=failed&tag=billing",
                repeat,
                GOAL_S,
            )
            deep = max(1, n // 50 - 1)
            await timed(
                http, f"run page {deep} (deep)", f"/runs/{base}?page={deep}", repeat, GOAL_S
            )
            await timed(http, "runs list", "/runs", repeat, None)
            await timed(http, "agents list", "/", repeat, None)
            await timed(http, "agent page (trend of 2 runs)", "/agents/bench-bot", repeat, None)
            await timed(
                http, "compare page (two runs)", f"/compare?base={base}&head={head}", repeat, 2.0
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.repeat))
