"""Take the README's dashboard screenshots: agents, an agent, a run, a case, two runs compared.

Serves the app on a scratch SQLite database, seeds it through the API (the browser tests' data,
plus a few nightly runs so the trend has a history), and photographs the pages in Debian's
Chromium at 1280x800::

    .venv/bin/python docs/screenshots/capture.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.fakes.dashboard import ADMIN_KEY, CHROMIUM, CHROMIUM_ARGS, seed, serve  # noqa: E402

from aifactory.client import Client  # noqa: E402


def shoot(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(HERE / f"{name}.png"))
    print(f"docs/screenshots/{name}.png")


def photograph(url: str, client: Client) -> None:
    seeded = seed(client, history=4)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/signin")
        page.fill("#api_key", ADMIN_KEY)
        page.click("form[action='/signin'] button[type=submit]")
        page.wait_for_url(f"{url}/")
        shoot(page, "agents")
        page.goto(f"{url}/agents/{seeded.agent_id}")
        shoot(page, "agent")
        page.goto(f"{url}/runs/{seeded.run_v1}")
        shoot(page, "run")
        page.goto(f"{url}/runs/{seeded.run_v1}?status=failed")
        case = page.locator("details.case[data-case='markup in output']")
        case.locator("summary").click()
        case.scroll_into_view_if_needed()
        shoot(page, "case")
        page.goto(f"{url}/compare?base={seeded.run_v1}&head={seeded.run_v2}")
        shoot(page, "compare")
        browser.close()


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(Path(tmp) / "shots.db") as url,
        Client(url, api_key=ADMIN_KEY) as client,
    ):
        photograph(url, client)


if __name__ == "__main__":
    main()
