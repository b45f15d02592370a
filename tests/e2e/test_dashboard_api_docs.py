"""``/docs`` in Chromium with no way out to the internet: Swagger UI renders from the package's
own assets, "Authorize" takes an API key, and "Try it out" sends it and gets a 200."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from tests.fakes.dashboard import Site

pytestmark = pytest.mark.browser


def _offline_page(chromium: Browser, site: Site) -> tuple[Page, list[str], list[str]]:
    """A page that can reach only the test server; returns it with the lists of every URL it
    asked for elsewhere (refused) and every console error."""
    context = chromium.new_context()
    page = context.new_page()
    origin = urlsplit(site.url).netloc
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_server(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", only_the_server)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, elsewhere, errors


def test_swagger_ui_renders_offline_with_every_operation(
    chromium: Browser, dashboard_site: Site
) -> None:
    page, elsewhere, errors = _offline_page(chromium, dashboard_site)
    page.goto(f"{dashboard_site.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AI Factory Testing")
    # Every /api/v1 operation shows with a lock; the open probes show without one.
    expect(page.locator("#operations-agents-listAgents")).to_be_visible()
    expect(page.locator("#operations-agents-listAgents .authorization__btn")).to_be_visible()
    expect(page.locator("#operations-operations-health")).to_be_visible()
    expect(page.locator("#operations-operations-health .authorization__btn")).to_have_count(0)
    assert page.locator(".opblock").count() >= 30
    assert elsewhere == []
    # Nothing the Content-Security-Policy refused, nothing that failed to load.
    assert errors == []
    page.context.close()


def test_authorize_then_try_it_out_sends_the_key_and_gets_200(
    chromium: Browser, dashboard_site: Site
) -> None:
    page, elsewhere, errors = _offline_page(chromium, dashboard_site)
    page.goto(f"{dashboard_site.url}/docs")
    operation = page.locator("#operations-agents-listAgents")
    expect(operation).to_be_visible()

    # Without a key, the API answers 401 to the same request.
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text(
        "401"
    )

    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input[type=text], input[type=password]").first.fill(dashboard_site.admin_key)
    dialog.locator("button.modal-btn.authorize").click()
    expect(dialog.locator("button.modal-btn", has_text="Logout")).to_be_visible()
    dialog.locator("button.btn-done").click()

    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/v1/agents") as answer:
        operation.get_by_role("button", name="Execute").click()
    response = answer.value
    assert response.status == 200
    assert response.request.headers["authorization"] == f"Bearer {dashboard_site.admin_key}"
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text(
        "200"
    )
    expect(operation.locator(".live-responses-table")).to_contain_text("Support bot")
    assert elsewhere == []
    assert [e for e in errors if "401" not in e] == []
    page.context.close()
