"""The dashboard's sign-in, session cookie, CSRF protection and security headers, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.fakes.dashboard import Site, sign_in

pytestmark = pytest.mark.browser


def test_a_wrong_key_shows_an_error_and_the_right_one_opens_the_agents(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    page.goto(f"{dashboard_site.url}/runs")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fruns$"))

    page.fill("#api_key", "afk_not-a-key-anyone-made")
    page.click("form[action='/signin'] button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    assert page.context.cookies() and not any(
        c["name"] == "aif_session" for c in page.context.cookies()
    )

    page.fill("#api_key", dashboard_site.admin_key)
    page.click("form[action='/signin'] button[type=submit]")
    expect(page).to_have_url(f"{dashboard_site.url}/runs")
    page.click("nav >> text=Agents")
    expect(page.locator("table.list")).to_contain_text("Support bot")
    expect(page.locator("table.list")).to_contain_text("Slow bot")
    page.close()


def test_the_session_cookie_is_httponly_and_samesite_strict_and_holds_no_key(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    session = next(c for c in page.context.cookies() if c["name"] == "aif_session")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert dashboard_site.admin_key not in session["value"]
    # Scripts cannot read it.
    assert "aif_session" not in page.evaluate("document.cookie")
    page.close()


def test_pages_carry_a_content_security_policy_without_inline_scripts(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    response = page.goto(f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    # The policy is in force: an injected inline script does not run.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }"
    )
    assert page.evaluate("window.__inline") is None
    page.close()


def test_form_posts_without_the_csrf_token_are_refused(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    request = page.context.request
    run = dashboard_site.seeded.run_v1
    attempts: list[tuple[str, dict[str, str | float | bool]]] = [
        ("/signout", {}),
        ("/signout", {"csrf_token": "forged"}),
        (f"/runs/{run}/cancel", {}),
        ("/signin", {"api_key": dashboard_site.admin_key}),
    ]
    for path, form in attempts:
        response = request.post(f"{dashboard_site.url}{path}", form=form, max_redirects=0)
        assert response.status == 403, path
        assert "security token" in response.text()
    # Still signed in: the refused sign-out did nothing.
    page.goto(f"{dashboard_site.url}/runs")
    expect(page.locator("h1")).to_have_text("Runs")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{dashboard_site.url}/signin")
    page.goto(f"{dashboard_site.url}/runs")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.close()


def test_a_read_only_key_sees_runs_but_cannot_cancel_them(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, dashboard_site, dashboard_site.seeded.read_key)
    accepted = dashboard_site.client.submit_batch(
        "slow-bot", test_cases=[{"name": f"c{i}", "input": "x"} for i in range(40)], concurrency=1
    )
    page.goto(f"{dashboard_site.url}/runs/{accepted.run_id}")
    expect(page.locator(".live progress")).to_be_visible()
    expect(page.locator("text=Cancel run")).to_have_count(0)
    token = page.locator("form[action='/signout'] input[name=csrf_token]").get_attribute("value")
    response = page.context.request.post(
        f"{dashboard_site.url}/runs/{accepted.run_id}/cancel",
        form={"csrf_token": token or ""},
        max_redirects=0,
    )
    assert response.status == 403
    assert "Cancelling a run needs an API key with the" in response.text()
    assert dashboard_site.client.get_run(accepted.run_id).status in ("queued", "running")
    dashboard_site.client.cancel_run(accepted.run_id)
    page.close()


def test_without_a_session_the_progress_endpoint_answers_401(
    chromium: Browser, dashboard_site: Site
) -> None:
    context = chromium.new_context()
    response = context.request.get(
        f"{dashboard_site.url}/ui/api/runs/{dashboard_site.seeded.run_v1}/progress"
    )
    assert response.status == 401
    assert response.json()["error"]["code"] == "unauthorized"
    context.close()


def follow_link_from_another_site(page: Page, site: Site, target: str) -> None:
    # localhost is another site than 127.0.0.1: the SameSite=Strict cookie stays behind at first.
    page.goto(f"{site.url.replace('127.0.0.1', 'localhost')}/signin")
    page.evaluate(
        "href => { const a = document.createElement('a'); a.href = href;"
        " a.textContent = 'the run'; document.body.appendChild(a); }",
        target,
    )
    page.click("text=the run")


def test_a_link_from_another_site_opens_the_page_signed_in(
    chromium: Browser, dashboard_site: Site
) -> None:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    target = f"{dashboard_site.url}/runs/{dashboard_site.seeded.run_v1}"
    follow_link_from_another_site(page, dashboard_site, target)
    expect(page).to_have_url(target)
    expect(page.locator("h1")).to_contain_text("support v1")
    page.close()
    # Without a session the same link ends at the sign-in page (once, no reload loop).
    page = chromium.new_page()
    follow_link_from_another_site(page, dashboard_site, target)
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fruns%2F"))
    expect(page.locator("#api_key")).to_be_visible()
    page.close()
