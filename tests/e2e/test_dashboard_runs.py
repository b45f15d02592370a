"""A run in the dashboard, in Chromium: its summary, filters, untrusted output, live progress."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.fakes.dashboard import XSS_OUTPUT, Site, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(chromium: Browser, dashboard_site: Site) -> Page:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    return page


def test_open_a_run_from_the_list_and_filter_its_failed_cases(
    page: Page, dashboard_site: Site
) -> None:
    run = dashboard_site.client.get_run(dashboard_site.seeded.run_v1)
    page.goto(f"{dashboard_site.url}/runs")
    page.click("table.runs >> text=support v1")
    expect(page).to_have_url(f"{dashboard_site.url}/runs/{run.run_id}")
    expect(page.locator("h1")).to_contain_text("support v1")
    # The summary shows the pass rate with its interval, and the counters.
    summary = page.locator("section.summary")
    expect(summary).to_contain_text(f"{run.passed / run.total * 100:.1f}%")
    expect(summary.locator(".ci").first).to_have_text(re.compile(r"^\[\d+\.\d%, \d+\.\d%\]$"))
    expect(summary).to_contain_text(f"{run.passed} / {run.failed} / {run.errored}")
    expect(page.locator("details.case")).to_have_count(run.total)

    page.select_option("#filter-status", "failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    cases = page.locator("details.case")
    expect(cases).to_have_count(run.failed)
    assert set(cases.locator("summary .badge").all_inner_texts()) == {"failed"}
    expect(page.locator(".pager").first).to_contain_text(f"of {run.failed}")

    # A case shows its output, checks and feedback.
    greeting = page.locator("details.case[data-case='greeting']")
    greeting.locator("summary").click()
    expect(greeting.locator("pre.output")).to_have_text("I am not sure.")
    expect(greeting.locator("table.checks")).to_contain_text("icontains")
    expect(greeting.locator(".feedback")).to_contain_text("how can i help")


def test_the_tag_filter_keeps_only_cases_with_that_tag(page: Page, dashboard_site: Site) -> None:
    page.goto(f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}")
    page.select_option("#filter-tag", "account")
    expect(page).to_have_url(re.compile(r"tag=account"))
    tags = page.locator("details.case summary .tag").all_inner_texts()
    assert tags and set(tags) == {"account"}
    expect(page.locator("details.case")).to_have_count(7)
    # Both filters together.
    page.select_option("#filter-status", "failed")
    expect(page).to_have_url(re.compile(r"status=failed.*tag=account|tag=account.*status=failed"))
    expect(page.locator("details.case")).to_have_count(3)


def test_markup_in_an_agent_output_shows_as_text(page: Page, dashboard_site: Site) -> None:
    page.goto(f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}?status=failed")
    case = page.locator("details.case[data-case='markup in output']")
    case.locator("summary").click()
    output = case.locator("pre.output")
    expect(output).to_be_visible()
    expect(output).to_have_text(XSS_OUTPUT)
    assert output.locator("b").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_a_running_run_shows_live_progress_and_can_be_cancelled(
    page: Page, dashboard_site: Site
) -> None:
    accepted = dashboard_site.client.submit_batch(
        "slow-bot",
        test_cases=[{"name": f"slow {i}", "input": "x"} for i in range(60)],
        concurrency=1,
        name="slow run",
    )
    page.goto(f"{dashboard_site.url}/runs")
    row = page.locator(f"tr[data-run='{accepted.run_id}']")
    completed = row.locator("[data-field=completed]")
    expect(completed).not_to_have_text("0", timeout=5000)
    first = int(completed.inner_text())
    # The script keeps polling: the count goes up without a reload.
    expect(completed).not_to_have_text(str(first), timeout=5000)
    assert int(completed.inner_text()) > first

    page.click(f"tr[data-run='{accepted.run_id}'] >> text=slow run")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Cancel run")
    expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=10_000)
    assert dashboard_site.client.get_run(accepted.run_id).status == "cancelled"
