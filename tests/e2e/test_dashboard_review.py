"""Reviewing in Chromium with the keyboard alone, the agreement page, and every page on a phone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.fakes.dashboard import ADMIN_KEY, Site, seed, serve, sign_in
from tests.fakes.review_data import RUBRIC, Judged, judged_run

from aifactory.client import Client
from aifactory.store.database import Database

pytestmark = pytest.mark.browser

JUDGED = "judged-bot"
SCORES = [0.55, 0.45, 0.6, 0.4, 0.52, 0.48, 0.62, 0.38, 0.95, 0.05]
"""Eight results near the judge's threshold (0.5), two far from it."""
PHONE = {"width": 375, "height": 812}


async def _judged(database: Path) -> str:
    db = Database.from_url(f"sqlite+aiosqlite:///{database}")
    try:
        cases = [Judged(f"refund question {i + 1}", s) for i, s in enumerate(SCORES)]
        return (await judged_run(db, JUDGED, cases)).run_id
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def review_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The seeded app of the dashboard tests, plus an agent whose results a judge graded."""
    database = tmp_path_factory.mktemp("review") / "review.db"
    with serve(database) as url, Client(url, api_key=ADMIN_KEY) as client:
        seeded = seed(client)
        # Playwright's loop may be running in this thread already: store from another one.
        with ThreadPoolExecutor(1) as pool:
            judged_run_id = pool.submit(asyncio.run, _judged(database)).result()
        yield Site(
            url=url,
            admin_key=ADMIN_KEY,
            seeded=replace(seeded, extra_runs=[judged_run_id]),
            client=client,
        )


def test_five_results_labeled_with_the_keyboard_alone_change_the_agreement(
    chromium: Browser, review_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, review_site)
    page.goto(f"{review_site.url}/agreement?agent_id={JUDGED}")
    expect(page.locator("#no-agreement")).to_be_visible()

    page.goto(f"{review_site.url}/agents/{JUDGED}")
    page.click("#agent-review")
    expect(page.locator("#pick-strategy")).to_have_value("uncertain")
    item = page.locator("#review-item")
    expect(item.locator("[data-slot=reason]")).to_contain_text("of the threshold 0.5")
    expect(item.locator(".rubric")).to_contain_text(RUBRIC)
    expect(item.locator(".reasoning")).to_contain_text("The judge's reasoning on refund question")

    seen: list[str] = []
    labeled: list[tuple[str, bool, bool]] = []
    """(result id, the judge passed, the reviewer passed)"""

    def press(key: str, *, comment: str | None = None) -> None:
        result_id = item.get_attribute("data-result-id") or ""
        judge = item.locator("[data-slot=status]").inner_text().strip() == "passed"
        assert result_id and result_id not in seen
        seen.append(result_id)
        if comment is not None:
            page.keyboard.press("c")
            expect(page.locator("#review-comment")).to_be_focused()
            page.keyboard.type(comment)
            page.keyboard.press("Enter")
            expect(page.locator("#review-comment")).not_to_be_focused()
        page.keyboard.press(key)
        expect(item).not_to_have_attribute("data-result-id", result_id)
        if key in "pf":
            labeled.append((result_id, judge, key == "p"))

    url = page.url
    press("p")
    press("f")
    press("s")
    press("f", comment="Gives 14 days, not 30.")
    press("p")
    press("f")
    assert page.url == url  # no reload: the same page all along
    expect(page.locator("#labeled-count")).to_have_text("5")
    assert len(labeled) == 5

    page.click("#agreement-link")
    section = page.locator("section.criterion").first
    expect(section.locator("[data-field=labeled]")).to_have_text("5")
    expected = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for _, judge, human in labeled:
        expected[("tp" if human else "fp") if judge else ("fn" if human else "tn")] += 1
    for cell, count in expected.items():
        expect(section.locator(f"[data-cell={cell}]")).to_have_text(f"{cell} {count}")
    expect(section).to_contain_text(RUBRIC)

    commented = review_site.client.list_labels(labeled[2][0]).items
    assert [(lb.passed, lb.comment) for lb in commented] == [(False, "Gives 14 days, not 30.")]
    skipped = seen[2]
    assert review_site.client.list_labels(skipped).total == 0
    page.close()


def test_a_read_only_key_sees_the_queue_without_the_buttons(
    chromium: Browser, review_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, review_site, review_site.seeded.read_key)
    page.goto(f"{review_site.url}/review?agent_id={JUDGED}&strategy=unlabeled")
    expect(page.locator("#review-item")).to_be_visible()
    expect(page.locator("#label-pass")).to_have_count(0)
    first = page.locator("#review-item").get_attribute("data-result-id") or ""
    page.keyboard.press("p")
    expect(page.locator("#review-status")).to_contain_text("'write' scope")
    expect(page.locator("#review-item")).to_have_attribute("data-result-id", first)
    page.keyboard.press("s")
    expect(page.locator("#review-item")).not_to_have_attribute("data-result-id", first)
    page.close()


def _fits(page: Page) -> None:
    """No sideways scroll, and the header's parts inside the viewport."""
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} scrolls sideways: {width} > {inner}"
    outside = page.evaluate(
        """() => [...document.querySelectorAll('header.top, header.top *')]
            .filter(e => {
              const r = e.getBoundingClientRect();
              return r.width > 0 && (r.left < 0 || r.right > window.innerWidth);
            })
            .map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 30))"""
    )
    assert outside == [], f"{page.url}: header cut off: {outside}"


def test_every_page_fits_a_phone(chromium: Browser, review_site: Site) -> None:
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    base = review_site.url
    page.goto(f"{base}/signin")
    _fits(page)
    page.fill("#api_key", ADMIN_KEY)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    seeded = review_site.seeded
    judged_run_id = seeded.extra_runs[0]
    for path in (
        "/",
        "/agents/support-bot",
        f"/agents/{JUDGED}",
        "/runs",
        f"/runs/{seeded.run_v1}",
        f"/runs/{judged_run_id}",
        f"/compare?base={seeded.run_v1}&head={seeded.run_v2}",
        f"/review?agent_id={JUDGED}",
        f"/review?run_id={judged_run_id}&strategy=unlabeled",
        f"/agreement?agent_id={JUDGED}",
        "/agreement",
    ):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        _fits(page)
        # Every header link can be reached without scrolling.
        expect(page.locator("header.top nav a")).to_have_count(5)
    # A case opened, with its checks table, on a phone.
    page.goto(f"{base}/runs/{seeded.run_v1}?status=failed")
    case = page.locator("details.case[data-case='markup in output']")
    case.locator("summary").click()
    expect(case.locator("pre.output")).to_be_visible()
    _fits(page)
    # Prose wraps between words: the judge's reasoning is never split mid-word.
    page.goto(f"{base}/review?agent_id={JUDGED}")
    reasoning = page.locator("#review-item .reasoning").first
    assert reasoning.evaluate("e => getComputedStyle(e).overflowWrap") != "anywhere"
    assert re.fullmatch(r"\d+", page.locator("#labeled-count").inner_text())
    context.close()
