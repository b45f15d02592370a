"""Take the README's dashboard screenshots: agents, an agent, a run, a case, two runs compared,
the review page (on a desktop and on a phone) and the agreement page.

Serves the app on a scratch SQLite database, seeds it through the API (the browser tests' data,
plus a few nightly runs so the trend has a history), stores a run a judge graded and labels some
of it, and photographs the pages in Debian's Chromium at 1280x800 (the phone at 375x812)::

    .venv/bin/python docs/screenshots/capture.py [NAME ...]   # all, or only these
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.fakes.dashboard import ADMIN_KEY, CHROMIUM, CHROMIUM_ARGS, seed, serve  # noqa: E402
from tests.fakes.review_data import Judged, judged_run  # noqa: E402

from aifactory.client import Client  # noqa: E402
from aifactory.store.database import Database  # noqa: E402

NAMES = ("agents", "agent", "run", "case", "compare", "review", "review-phone", "agreement")
JUDGED_AGENT = "refund-bot"
RUBRIC = "States the 30-day refund window and how to start a refund, without promising more."
WINDOW = "Refunds are possible within 30 days of purchase: open Orders, pick the order, Refund."
JUDGED = [
    Judged(
        "refund after 40 days",
        0.55,
        rubric=RUBRIC,
        input="I bought a kettle 40 days ago and it broke. Can I still get my money back?",
        output=(
            "Refunds are possible within 30 days of purchase, so this order is past the window. "
            "The kettle has a two-year warranty though: open Orders, pick the order and choose "
            "Warranty claim, and we will replace it."
        ),
        reason=(
            "The answer states the 30-day window and correctly says the order is outside it. "
            "It does not explain how to start a refund, which the rubric asks for, but it offers "
            "the warranty route instead, which is helpful. Mostly meets the criterion."
        ),
    ),
    Judged(
        "refund of a gift",
        0.45,
        rubric=RUBRIC,
        input="Can I return a gift I received without the receipt?",
        output="Sure! We refund anything, any time, no questions asked.",
        reason=(
            "The answer promises refunds at any time, which contradicts the 30-day window, and "
            "gives no steps. It is friendly but wrong on the policy."
        ),
    ),
    *[
        Judged(f"refund question {i}", score, rubric=RUBRIC, output=WINDOW, reason="States it.")
        for i, score in enumerate([0.9, 0.85, 0.2, 0.95, 0.6, 0.4, 0.88, 0.15, 0.92, 0.58], 1)
    ],
]
HUMAN = [True, False, True, True, False, True, False, True, True, False, True, False]
"""A reviewer's verdicts on the judged results, in order (the first two are left to review)."""
SECOND = {2: True, 3: True, 6: True, 7: True, 9: False, 11: False}
"""A second reviewer's verdicts on some of them, so the reviewers' alpha shows."""


def shoot(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(HERE / f"{name}.png"))
    print(f"docs/screenshots/{name}.png")


async def _judged(database: Path) -> list[str]:
    db = Database.from_url(f"sqlite+aiosqlite:///{database}")
    try:
        return (await judged_run(db, JUDGED_AGENT, JUDGED)).result_ids
    finally:
        await db.dispose()


def judged(database: Path, client: Client, url: str) -> None:
    """A run a judge graded, most of it labeled (Playwright may hold this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        ids = pool.submit(asyncio.run, _judged(database)).result()
    for result_id, passed in list(zip(ids, HUMAN, strict=True))[2:]:
        client.add_label(result_id, passed=passed)
    key = client.create_key("alice", scopes=["read", "write"]).key
    with Client(url, api_key=key) as alice:
        for index, passed in SECOND.items():
            alice.add_label(ids[index], passed=passed)


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/signin")
    page.fill("#api_key", ADMIN_KEY)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{url}/")


def photograph(browser: Browser, url: str, client: Client, database: Path, names: set[str]) -> None:
    seeded = seed(client, history=4)
    judged(database, client, url)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, url)
    wanted = {
        "agents": "/",
        "agent": f"/agents/{seeded.agent_id}",
        "run": f"/runs/{seeded.run_v1}",
        "case": f"/runs/{seeded.run_v1}?status=failed",
        "compare": f"/compare?base={seeded.run_v1}&head={seeded.run_v2}",
        "review": f"/review?agent_id={JUDGED_AGENT}&strategy=uncertain",
        "agreement": f"/agreement?agent_id={JUDGED_AGENT}",
    }
    for name, path in wanted.items():
        if name not in names:
            continue
        page.goto(url + path)
        if name == "case":
            case = page.locator("details.case[data-case='markup in output']")
            case.locator("summary").click()
            case.scroll_into_view_if_needed()
        shoot(page, name)
    if "review-phone" in names:
        phone = browser.new_page(viewport={"width": 375, "height": 812}, is_mobile=True)
        sign_in(phone, url)
        phone.goto(f"{url}/review?agent_id={JUDGED_AGENT}&strategy=uncertain")
        shoot(phone, "review-phone")


def main() -> None:
    names = set(sys.argv[1:]) or set(NAMES)
    unknown = names - set(NAMES)
    if unknown:
        sys.exit(f"Unknown screenshots: {', '.join(sorted(unknown))} (known: {', '.join(NAMES)})")
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(Path(tmp) / "shots.db") as url,
        Client(url, api_key=ADMIN_KEY) as client,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            photograph(browser, url, client, Path(tmp) / "shots.db", names)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
