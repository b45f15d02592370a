"""A conversation in the dashboard, in Chromium: a chat transcript with each turn's checks beside
its reply, the stop reason, the failing turn marked, and the run's conversation figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.fakes.dashboard import XSS_OUTPUT, Site, sign_in

pytestmark = pytest.mark.browser

AGENT = {
    "id": "chat-bot",
    "name": "Chat bot",
    "kind": "scripted",
    "config": {
        "responses": [
            {"match": "broken", "turn": 1, "output": "Sorry! What is your order number?"},
            {
                "match": "A-1234",
                "turn": 2,
                "output": "Thanks, a replacement ships today.",
                "tool_calls": [{"name": "send_replacement", "args": {"order": "A-1234"}}],
            },
            {"match": "markup", "output": XSS_OUTPUT},
        ],
        "default": "I can only help with orders.",
    },
}


def conversation(name: str, second: str) -> dict[str, object]:
    return {
        "name": name,
        "tags": ["conversation"],
        "turns": [
            {
                "input": "My order arrived broken.",
                "checks": [{"type": "icontains", "value": "order number"}],
            },
            {"input": second, "checks": [{"type": "icontains", "value": "replacement"}]},
        ],
        "checks": [
            {"type": "tool_sequence", "names": ["send_replacement"]},
            {"type": "icontains", "value": "can only help", "negate": True, "scope": "each"},
        ],
    }


CASES = [
    conversation("gets a replacement", "It is A-1234."),
    conversation("forgets the number", "I do not know it."),
    {"name": "markup in a turn", "turns": [{"input": "some markup please"}]},
    {"name": "one message", "input": "hello", "checks": [{"type": "contains", "value": "orders"}]},
]


@pytest.fixture(scope="module")
def run_id(dashboard_site: Site) -> str:
    client = dashboard_site.client
    client.create_agent(AGENT)
    accepted = client.submit_batch("chat-bot", test_cases=CASES, name="conversations")
    return client.wait_for_run(accepted.run_id, timeout=60, poll_s=0.05).run_id


@pytest.fixture(scope="module")
def page(chromium: Browser, dashboard_site: Site) -> Iterator[Page]:
    page = chromium.new_page()
    sign_in(page, dashboard_site)
    yield page
    page.close()


def test_a_conversation_is_a_chat_with_each_turns_checks_beside_its_reply(
    page: Page, dashboard_site: Site, run_id: str
) -> None:
    page.goto(f"{dashboard_site.url}/runs/{run_id}")
    case = page.locator("details.case[data-case='gets a replacement']")
    expect(case.locator("summary .badge.stop")).to_have_text("scripted turns done")
    expect(case.locator("summary")).to_contain_text("2 turns")
    case.locator("summary").click()

    messages = case.locator("ol.chat li.msg")
    expect(messages).to_have_count(4)
    expect(messages.nth(0)).to_have_class("msg user")
    expect(messages.nth(0).locator("pre")).to_have_text("My order arrived broken.")
    reply = messages.nth(1)
    expect(reply).to_have_class("msg assistant")
    expect(reply.locator(".bubble pre")).to_have_text("Sorry! What is your order number?")
    expect(reply.locator("ul.turn-checks li")).to_have_count(1)
    expect(reply.locator("ul.turn-checks")).to_contain_text("icontains")
    expect(reply.locator("ul.turn-checks .badge")).to_have_text("passed")
    # The checks sit beside the reply, not under it.
    bubble, checks = (
        reply.locator(".bubble").bounding_box(),
        reply.locator("ul.turn-checks").bounding_box(),
    )
    assert bubble is not None and checks is not None
    assert checks["x"] >= bubble["x"] + bubble["width"]
    expect(messages.nth(3).locator("ul.tools")).to_contain_text("send_replacement")
    expect(case.locator("h3.conversation")).to_contain_text(
        "2 agent replies · ended: scripted turns done"
    )
    expect(case.locator("table.checks")).to_contain_text("(each reply)")
    expect(case.locator("table.checks")).to_contain_text("(whole conversation)")
    expect(case.locator("pre.output")).to_have_count(0)


def test_the_failing_turn_is_marked(page: Page, dashboard_site: Site, run_id: str) -> None:
    page.goto(f"{dashboard_site.url}/runs/{run_id}?status=failed")
    case = page.locator("details.case[data-case='forgets the number']")
    case.locator("summary").click()
    failing = case.locator("ol.chat li.msg.failing")
    expect(failing).to_have_count(1)
    expect(failing).to_have_attribute("data-turn", "2")
    expect(failing.locator("ul.turn-checks .badge")).to_have_text("failed")
    expect(failing.locator("ul.turn-checks")).to_contain_text("replacement")


def test_a_reply_with_markup_shows_as_text(page: Page, dashboard_site: Site, run_id: str) -> None:
    page.goto(f"{dashboard_site.url}/runs/{run_id}")
    case = page.locator("details.case[data-case='markup in a turn']")
    case.locator("summary").click()
    reply = case.locator("ol.chat li.msg.assistant pre")
    expect(reply).to_have_text(XSS_OUTPUT)
    assert reply.locator("b").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_the_run_shows_its_conversation_figures_and_single_cases_as_before(
    page: Page, dashboard_site: Site, run_id: str
) -> None:
    page.goto(f"{dashboard_site.url}/runs/{run_id}")
    expect(page.locator("#conversations-passed")).to_contain_text("2 / 3")
    section = page.locator("section#conversations")
    expect(section.locator(".stop-reasons")).to_contain_text("scripted turns done 3")
    rows = section.locator("table.turns tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("turn 1")
    expect(rows.nth(0)).to_contain_text("2 / 2")
    expect(rows.nth(1)).to_contain_text("1 / 2")

    single = page.locator("details.case[data-case='one message']")
    single.locator("summary").click()
    expect(single.locator("pre.output")).to_have_text("I can only help with orders.")
    expect(single.locator("ol.chat")).to_have_count(0)
    expect(single.locator("summary .badge.stop")).to_have_count(0)


def test_a_conversation_fits_a_phone(chromium: Browser, dashboard_site: Site, run_id: str) -> None:
    context = chromium.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    sign_in(page, dashboard_site)
    page.goto(f"{dashboard_site.url}/runs/{run_id}")
    case = page.locator("details.case[data-case='forgets the number']")
    case.locator("summary").click()
    reply = case.locator("ol.chat li.msg.failing")
    expect(reply).to_be_visible()
    # On a phone the turn's checks go under the reply, and nothing scrolls sideways.
    bubble = reply.locator(".bubble").bounding_box()
    checks = reply.locator("ul.turn-checks").bounding_box()
    assert bubble is not None and checks is not None
    assert checks["y"] >= bubble["y"] + bubble["height"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth")
    context.close()
