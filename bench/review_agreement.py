"""Human review at scale: an agent with 100,000 judged results and 5,000 labels on PostgreSQL.

Starts ``aifactory serve`` on a scratch PostgreSQL database (127.0.0.1:5432, user postgres),
loads an agent's history with COPY (100,000 finished results over 20 runs, each graded by an
``llm_rubric`` judge on one of three rubrics, a third with three samples) and 5,000 labels by
three reviewers (the server key's own name among them; 1,000 results labeled twice, so the
reviewers' alpha is computed), then times over HTTP, keep-alive, one request at a time:

- ``GET /api/v1/judges/agreement?agent_id=…`` (target: under 200 ms);
- the next item of the review queue, ``GET /api/v1/review/queue?agent_id=…&limit=1``, for each
  strategy (target: under 100 ms), and a reviewer's step: label the item, then fetch the next;
- the dashboard, signed in: the agreement and review pages, its next-item endpoint
  (``/ui/api/review/next``) and the review page's step (label, then the next item; target: a
  reviewer moves to the next item in under 100 ms);
- a reviewer working through a queue: a new reviewer labels ``--steps`` items in a row (400) of
  the ``uncertain`` queue, another of the ``disagreement`` queue, and the next item is timed
  after 0, 50, 100, 200 and 400 of their labels (it must not slow down as they label on).

The database is migrated to ``0005_conversations`` before the load and to the newest revision
after it, so the upgrade's back-fill of the loaded results is timed too. Prints p50, p95 and max
of each, and drops the database. Not part of the test suite.

    .venv/bin/python bench/review_agreement.py [--results 100000] [--labels 5000] [--repeats 50]
        [--steps 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from _server import PG_HOST, PG_PORT, PG_USER, aifactory_server, scratch_postgres

from aifactory.store import migrate

AGENT = "bench-bot"
RUNS = 20
LOADED_AT = "0005_conversations"
"""The revision the results are loaded at (COPY writes that revision's columns)."""
CHECKPOINTS = (0, 50, 100, 200, 400)
REVIEWER = "bootstrap-1"
"""The name the server gives the key it was started with: the reviewer the queue is asked for."""
RUBRICS = [
    "States the refund window (30 days) and how to start a refund.",
    "Is polite and never blames the customer.",
    "Answers in the customer's language, without jargon.",
]
REASON = (
    "The answer states the 30-day window and links the refund form; it does not mention "
    "store credit, which the policy allows, so it is mostly but not entirely complete. "
) * 2


def judge_score(rng: random.Random) -> float:
    """Mostly sure verdicts, some near the threshold: roughly 8% within 0.15 of 0.5."""
    roll = rng.random()
    if roll < 0.08:
        return rng.uniform(0.36, 0.64)
    if roll < 0.75:
        return rng.uniform(0.7, 1.0)
    return rng.uniform(0.0, 0.3)


def result_row(
    rng: random.Random, run_id: str, index: int, finished: datetime
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    rubric = RUBRICS[index % len(RUBRICS)]
    score = judge_score(rng)
    details: dict[str, Any] = {"score": score, "threshold": 0.5, "judge_passed": score >= 0.5}
    if index % 3 == 0:
        samples = sorted(min(1.0, max(0.0, score + rng.gauss(0, 0.08))) for _ in range(3))
        details |= {"samples": samples, "min": samples[0], "max": samples[-1], "stdev": 0.05}
    passed = score >= 0.5
    check = {
        "type": "llm_rubric",
        "status": "passed" if passed else "failed",
        "passed": passed,
        "score": score,
        "weight": 1.0,
        "reason": REASON,
        "details": details,
        "usage": {"input_tokens": 600, "output_tokens": 120, "cost_usd": 0.0012},
    }
    case = {
        "name": f"case {index}",
        "input": f"Customer question number {index} about a refund for order {index * 7}.",
        "checks": [{"type": "llm_rubric", "rubric": rubric, "threshold": 0.5}],
    }
    row = (
        str(uuid.uuid4()), run_id, AGENT, 1, index, 0, json.dumps(case), "",
        "passed" if passed else "failed", passed, score, "" if passed else REASON,
        "Refunds are accepted within 30 days: use the form at /refunds.", json.dumps([check]),
        "[]", 800.0, 600, 120, 0.0004, 600, 120, 0.0012, False, 1, finished, finished,
    )  # fmt: skip
    return row, {"passed": passed, "rubric": rubric, "finished": finished}


RESULT_COLUMNS = [
    "id", "run_id", "agent_id", "agent_version", "case_index", "repeat_index", "test_case", "tags",
    "status", "passed", "score", "feedback", "output", "checks", "tool_calls", "latency_ms",
    "input_tokens", "output_tokens", "cost_usd", "judge_input_tokens", "judge_output_tokens",
    "judge_cost_usd", "cached", "attempts", "created_at", "finished_at",
]  # fmt: skip
LABEL_COLUMNS = [
    "id", "result_id", "agent_id", "run_id", "suite_id", "check_index", "judged_check",
    "check_type", "criterion", "judge_passed", "passed", "score", "comment", "reviewer",
    "api_key_id", "created_at",
]  # fmt: skip


async def load(dbname: str, n_results: int, n_labels: int) -> None:
    """COPY the agent's results and labels into the server's (already migrated) database."""
    rng = random.Random(2024)
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=dbname)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        await conn.execute(
            "INSERT INTO agents (id, name, current_version, created_at, updated_at)"
            " VALUES ($1, $1, 1, $2, $2)",
            AGENT,
            start,
        )
        await conn.execute(
            "INSERT INTO agent_result_counts (agent_id, shard, n) VALUES ($1, 0, $2)",
            AGENT,
            n_results,
        )
        await conn.execute(
            "INSERT INTO agent_versions (agent_id, version, kind, config, max_concurrency, state,"
            " created_at) VALUES ($1, 1, 'scripted', '{}', 8, 'active', $2)",
            AGENT,
            start,
        )
        per_run = n_results // RUNS
        results: list[tuple[str, str, dict[str, Any]]] = []
        for n in range(RUNS):
            run_id = str(uuid.uuid4())
            base = start + timedelta(hours=n)
            rows, meta = [], []
            for i in range(per_run):
                row, info = result_row(rng, run_id, i, base + timedelta(milliseconds=i))
                rows.append(row)
                meta.append((row[0], run_id, info))
            passed = sum(1 for _, _, info in meta if info["passed"])
            await conn.execute(
                "INSERT INTO runs (id, agent_id, agent_version, status, total, completed, passed,"
                " failed, errored, cancelled, repeat, metadata, created_at, started_at,"
                " finished_at) VALUES ($1, $2, 1, 'completed', $3, $3, $4, $5, 0, 0, 1, '{}',"
                " $6, $6, $7)",
                run_id,
                AGENT,
                per_run,
                passed,
                per_run - passed,
                base,
                base + timedelta(minutes=10),
            )
            await conn.copy_records_to_table("results", records=rows, columns=RESULT_COLUMNS)
            results.extend(meta)
            print(f"\rloaded {len(results):,} results", end="", flush=True)
        print()
        twice = n_labels // 5
        chosen = rng.sample(results, n_labels - twice)
        labels = []
        reviewers = [REVIEWER, "bob", "carol"]
        for k, (result_id, run_id, info) in enumerate(chosen):
            pair = [reviewers[k % 3]] + ([reviewers[(k + 1) % 3]] if k < twice else [])
            for reviewer in pair:
                human = info["passed"] if rng.random() < 0.87 else not info["passed"]
                labels.append(
                    (
                        str(uuid.uuid4()), result_id, AGENT, run_id, None, None, 0, "llm_rubric",
                        info["rubric"], info["passed"], human, None, None, reviewer,
                        None, info["finished"] + timedelta(days=1, seconds=k),
                    )
                )  # fmt: skip
        await conn.copy_records_to_table("labels", records=labels, columns=LABEL_COLUMNS)
        print(f"loaded {len(labels):,} labels on {len(chosen):,} results")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def sample(repeats: int, call: Callable[[], Any]) -> list[float]:
    """``repeats`` timings of ``call`` in ms, sorted, after one warm-up call."""
    call()  # warm: the first call pays for connections and caches
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def p95(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def timed(label: str, repeats: int, call: Callable[[], Any]) -> None:
    ordered = sample(repeats, call)
    print(
        f"{label:<52} p50 {statistics.median(ordered):7.1f} ms   p95 {p95(ordered):7.1f} ms"
        f"   max {ordered[-1]:7.1f} ms"
    )


def working_through(
    http: httpx.Client, strategy: str, steps: int, repeats: int
) -> dict[int, list[float]]:
    """A reviewer labels ``steps`` items of ``strategy`` in a row; next-item timings on the way.

    At each of :data:`CHECKPOINTS` (up to ``steps``) the next item is asked for ``repeats``
    times (the answer does not change until the reviewer labels it), then labeled.
    """

    def next_item() -> Any:
        answer = http.get(
            "/api/v1/review/queue", params={"agent_id": AGENT, "strategy": strategy, "limit": 1}
        )
        answer.raise_for_status()
        return answer.json()["items"]

    timings: dict[int, list[float]] = {}
    for labeled in range(steps + 1):
        if labeled in CHECKPOINTS:
            timings[labeled] = sample(repeats, next_item)
        if labeled == steps:
            break
        items = next_item()
        if not items:
            print(f"  ({strategy}: the queue ran out after {labeled} labels)")
            break
        http.post(
            f"/api/v1/results/{items[0]['id']}/labels", json={"passed": labeled % 2 == 0}
        ).raise_for_status()
    return timings


def reviewers_progress(server_http: httpx.Client, base_url: str, steps: int, repeats: int) -> None:
    """The next item's latency as one new reviewer per strategy labels ``steps`` items."""
    print(
        f"a reviewer's next item (GET /review/queue, limit 1) after n of their labels, "
        f"p50 / p95 ms over {repeats}:"
    )
    print(f"  {'labels':<14}" + "".join(f"{n:>16}" for n in CHECKPOINTS if n <= steps))
    for strategy, name in (("uncertain", "erin"), ("disagreement", "frank")):
        key = server_http.post(
            "/api/v1/keys", json={"name": name, "scopes": ["read", "write"]}
        ).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            timings = working_through(http, strategy, steps, repeats)
        cells = "".join(f"{statistics.median(t):7.1f} / {p95(t):5.1f}" for t in timings.values())
        print(f"  {strategy:<14}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--steps", type=int, default=max(CHECKPOINTS))
    args = parser.parse_args()

    with scratch_postgres() as (database_url, dbname):
        asyncio.run(migrate.upgrade(database_url, LOADED_AT))
        started = time.perf_counter()
        asyncio.run(load(dbname, args.results, args.labels))
        print(f"load: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        asyncio.run(migrate.upgrade(database_url))
        asyncio.run(analyze(dbname))
        print(
            f"migrate {LOADED_AT} -> {migrate.head_revision()} (back-fill of "
            f"{args.results:,} results): {time.perf_counter() - started:.1f} s"
        )
        with aifactory_server(database_url=database_url, workers=1) as server:
            run_bench(server.base_url, server.headers, args)


async def analyze(dbname: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=dbname)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def run_bench(base_url: str, headers: dict[str, str], args: argparse.Namespace) -> None:
    """Every figure, against a server whose database holds the loaded history."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:

        def get(path: str, **params: Any) -> httpx.Response:
            answer = http.get(path, params=params)
            answer.raise_for_status()
            return answer

        report = get("/api/v1/judges/agreement", agent_id=AGENT).json()["items"]
        for item in report:
            kappa_ci = item["kappa_ci"]
            print(
                f"  {item['criterion'][:40]:<40} labeled {item['labeled']:>5}  agreement "
                f"{item['agreement']:.1%}  kappa {item['kappa']:.2f} "
                f"[{kappa_ci['low']:.2f}, {kappa_ci['high']:.2f}]  alpha "
                f"{item['reviewer_alpha']:.2f}"
            )
        timed(
            "GET /judges/agreement?agent_id",
            args.repeats,
            lambda: get("/api/v1/judges/agreement", agent_id=AGENT),
        )
        for strategy in ("uncertain", "disagreement", "unlabeled"):
            timed(
                f"GET /review/queue ({strategy}, limit 1)",
                args.repeats,
                lambda s=strategy: get(  # type: ignore[misc]
                    "/api/v1/review/queue", agent_id=AGENT, strategy=s, limit=1
                ),
            )

        def step() -> None:
            (item,) = get(
                "/api/v1/review/queue", agent_id=AGENT, strategy="uncertain", limit=1
            ).json()["items"]
            http.post(
                f"/api/v1/results/{item['id']}/labels", json={"passed": True}
            ).raise_for_status()

        timed("label the item, then GET the next (uncertain)", args.repeats, step)

        # A reviewer of their own, whose queue the labels above have not moved on.
        reviewer = http.post(
            "/api/v1/keys", json={"name": "dana", "scopes": ["read", "write"]}
        ).json()["key"]

    with httpx.Client(base_url=base_url, timeout=60) as browser:
        dashboard(browser, reviewer, args.repeats)

    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        reviewers_progress(http, base_url, args.steps, min(args.repeats, 20))


def dashboard(browser: httpx.Client, api_key: str, repeats: int) -> None:
    """The review and agreement pages, and a reviewer's step, through a signed-in session."""

    def csrf(page: httpx.Response) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, "no CSRF token on the page"
        return found[1]

    signin = browser.post(
        "/signin", data={"api_key": api_key, "csrf_token": csrf(browser.get("/signin"))}
    )
    assert signin.status_code == 303, signin.text

    def get(path: str, **params: Any) -> httpx.Response:
        answer = browser.get(path, params=params)
        answer.raise_for_status()
        return answer

    token = csrf(get("/review", agent_id=AGENT))
    timed("dashboard: /agreement?agent_id page", repeats, lambda: get("/agreement", agent_id=AGENT))
    timed(
        "dashboard: /review?agent_id page (uncertain)",
        repeats,
        lambda: get("/review", agent_id=AGENT),
    )
    timed(
        "dashboard: GET /ui/api/review/next (uncertain)",
        repeats,
        lambda: get("/ui/api/review/next", agent_id=AGENT, strategy="uncertain"),
    )
    state = {"item": get("/ui/api/review/next", agent_id=AGENT).json()["item"]}
    # A second connection of the same session, as a browser opens for requests sent at once.
    other = httpx.Client(base_url=browser.base_url, cookies=browser.cookies, timeout=60)

    def label(result_id: str) -> None:
        browser.post(
            f"/ui/api/results/{result_id}/labels",
            json={"passed": False},
            headers={"X-CSRF-Token": token},
        ).raise_for_status()

    def following(result_id: str) -> Any:
        answer = other.get("/ui/api/review/next", params={"agent_id": AGENT, "skip": result_id})
        answer.raise_for_status()
        return answer.json()["item"]

    def move() -> None:
        # What the page does on p or f: the label and the next item (which leaves this one
        # out) are asked for at once; the reviewer waits for the slower of the two.
        result_id = state["item"]["id"]
        with ThreadPoolExecutor(2) as pool:
            written = pool.submit(label, result_id)
            state["item"] = pool.submit(following, result_id).result()
            written.result()

    def move_in_turn() -> None:
        result_id = state["item"]["id"]
        label(result_id)
        state["item"] = following(result_id)

    with other:
        timed("dashboard: p or f, to the next item (uncertain)", repeats, move)
        timed("dashboard: the same, label first, then next", repeats, move_in_turn)


if __name__ == "__main__":
    main()
