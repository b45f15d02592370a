"""The HTML run report in Chromium: every case listed, collapsed, filtered over all of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from tests.unit.reports.helpers import sample, summarize

from aifactory.reports.html import score_histogram, write_html

pytestmark = pytest.mark.browser


def test_the_filter_works_over_every_case_passed_ones_too(
    chromium: Browser, tmp_path: Path
) -> None:
    results = sample()  # case 0 and 3 passed, 1 and 4 failed, 2 errored
    report = tmp_path / "report.html"
    with report.open("w", encoding="utf-8") as out:
        write_html(
            out,
            results,
            summarize(results),
            title="refunds",
            histogram=score_histogram(r.score for r in results),
        )
    page = chromium.new_page()
    try:
        page.goto(report.as_uri())
        cases = page.locator("#cases details.case")
        count = page.locator("#filter-count")
        expect(cases).to_have_count(5)
        expect(page.locator("#cases details.case:visible")).to_have_count(5)
        expect(count).to_have_text("5 of 5 shown")
        expect(page.locator("#cases details[open]")).to_have_count(0)

        page.uncheck(".filter-status[value=passed]")
        expect(page.locator("#cases details.case:visible")).to_have_count(3)
        expect(count).to_have_text("3 of 5 shown")

        page.check(".filter-status[value=passed]")
        page.uncheck(".filter-status[value=failed]")
        page.uncheck(".filter-status[value=error]")
        visible = page.locator("#cases details.case:visible")
        expect(visible).to_have_count(2)
        expect(visible.first).to_have_attribute("data-status", "passed")

        page.fill("#filter-text", "case 3")
        expect(page.locator("#cases details.case:visible")).to_have_count(1)
        expect(count).to_have_text("1 of 5 shown")
        page.locator("#cases details.case:visible summary").click()
        expect(page.locator("#cases details[open]")).to_contain_text("found it")
    finally:
        page.close()
