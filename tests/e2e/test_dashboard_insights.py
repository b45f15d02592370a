"""Comparisons, trends and reports in the dashboard, in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.fakes.dashboard import Site, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(chromium: Browser, dashboard_site: Site) -> Page:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    return page


def test_compare_two_runs_picked_by_hand(page: Page, dashboard_site: Site) -> None:
    seeded = dashboard_site.seeded
    page.goto(f"{dashboard_site.url}/compare")
    page.select_option("#pick-base", seeded.run_v1)
    page.select_option("#pick-head", seeded.run_v2)
    page.click("#compare-form button[type=submit]")
    expect(page).to_have_url(re.compile(rf"base={seeded.run_v1}&head={seeded.run_v2}"))

    # v2 fixed "greeting" and broke "shipping time": one flip each way is no evidence.
    expect(page.locator("#verdict")).to_have_text("no significant change")
    expect(page.locator("#p-value")).to_have_text("1.0000")
    flips = page.locator("table.flips tbody tr")
    expect(flips).to_have_count(2)
    expect(page.locator("table.flips tr.regression")).to_contain_text("shipping time")
    expect(page.locator("table.flips tr.improvement")).to_contain_text("greeting")
    # The two runs side by side.
    side = page.locator("table.side-by-side")
    expect(side).to_contain_text("support-bot v1")
    expect(side).to_contain_text("support-bot v2")


def test_compare_from_a_run_defaults_the_base_to_the_agents_previous_run(
    page: Page, dashboard_site: Site
) -> None:
    seeded = dashboard_site.seeded
    page.goto(f"{dashboard_site.url}/runs/{seeded.run_v2}")
    page.click("text=Compare with another run")
    expect(page.locator("#pick-head")).to_have_value(seeded.run_v2)
    expect(page.locator("#pick-base")).to_have_value(seeded.run_v1)
    expect(page.locator("#verdict")).to_be_visible()


def test_an_unknown_run_in_a_comparison_is_a_404_page(page: Page, dashboard_site: Site) -> None:
    response = page.goto(
        f"{dashboard_site.url}/compare?base=no-such-run&head={dashboard_site.seeded.run_v2}"
    )
    assert response is not None and response.status == 404
    expect(page.locator(".message")).to_contain_text("no-such-run")


def test_the_agent_page_draws_the_trend_with_intervals_and_versions(
    page: Page, dashboard_site: Site
) -> None:
    page.goto(f"{dashboard_site.url}/agents/support-bot")
    chart = page.locator("figure.chart svg")
    expect(chart).to_be_visible()
    points = chart.locator("g.point")
    expect(points).to_have_count(2)
    # Each point has its whisker and a tooltip naming the run and its interval.
    expect(points.nth(0).locator("line.whisker")).to_have_count(3)
    expect(points.nth(0).locator("title")).to_contain_text("support v1 · v1 · 18 of 23 passed")
    expect(points.nth(1).locator("title")).to_contain_text("support v2 · v2")
    expect(chart.locator("text.band-label")).to_have_text(["v1", "v2"])
    rows = page.locator("section:has(h2:text('By version')) tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("78.3%")


def test_a_report_downloads_from_the_run_page(
    page: Page, dashboard_site: Site, tmp_path: Path
) -> None:
    page.goto(f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}")
    with page.expect_download() as download:
        page.click(".reports >> text=Markdown")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".md"
    text = saved.read_text(encoding="utf-8")
    assert "support v1" in text
    assert "markup in output" in text

    # The HTML report runs its own inline script, so it is served sandboxed, as a download.
    html = page.context.request.get(
        f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}/report?format=html"
    )
    assert html.status == 200
    assert "sandbox" in html.headers["content-security-policy"]
    assert html.headers["content-disposition"].startswith("attachment;")
    assert "<script>window.__xss=1</script>" not in html.text()
