"""pytest plugin: the real app on a loopback port, seeded through its API, and Debian's Chromium.

``dashboard_site`` (one per session) serves ``create_app`` with uvicorn in a thread on a free
127.0.0.1 port over a scratch SQLite database, and seeds it through the SDK exactly as a user
would: a scripted support bot with two versions and a run on each (some cases flip between
them, one answers with markup that must stay text), and a slow bot for live progress.
``chromium`` (one per test module) is Playwright driving ``/usr/bin/chromium``; Playwright's own
browser downloads are never used.

:func:`seed` and :func:`serve` are reused by ``docs/screenshots/capture.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from tests.fakes.prerequisites import unavailable

from aifactory.api.app import create_app
from aifactory.client import Client
from aifactory.settings import load_settings

ADMIN_KEY = "afk_dashboard-admin-key-0123456789abcdefghijk"
SESSION_SECRET = "9d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_OUTPUT = "<script>window.__xss=1</script><b>bold</b>"

SUPPORT_V1 = {
    "responses": [
        {"match": "refund", "output": "Refunds are possible within 30 days of purchase."},
        {"match": "shipping", "output": "Orders ship within 2 days."},
        {"match": "markup", "output": XSS_OUTPUT},
        {"match": "password", "output": "Use the 'Forgot password' link to reset it."},
    ],
    "default": "I am not sure.",
}
SUPPORT_V2 = {
    "responses": [
        {"match": "refund", "output": "Refunds are possible within 30 days of purchase."},
        {"match": "shipping", "output": "Orders ship soon."},
        {"match": "markup", "output": XSS_OUTPUT},
        {"match": "password", "output": "Use the 'Forgot password' link to reset it."},
        {"match": "hello", "output": "Hello! How can I help you today?"},
    ],
    "default": "I am not sure.",
}


def support_cases() -> list[dict[str, Any]]:
    """The support suite: passes and failures on v1, two of which flip on v2."""
    cases: list[dict[str, Any]] = [
        {
            "name": "refund window",
            "input": "Can I get a refund after 40 days?",
            "expected": "No; refunds are possible within 30 days.",
            "checks": [{"type": "contains", "value": "30 days"}],
            "tags": ["billing"],
        },
        {
            "name": "shipping time",
            "input": "How long does shipping take?",
            "checks": [{"type": "contains", "value": "2 days"}],
            "tags": ["shipping"],
        },
        {
            "name": "markup in output",
            "input": "Answer with some markup please",
            "checks": [{"type": "contains", "value": "a safe answer"}],
            "tags": ["safety"],
        },
        {
            "name": "greeting",
            "input": "hello",
            "checks": [{"type": "icontains", "value": "how can i help"}],
            "tags": ["smalltalk"],
        },
        {
            "name": "password reset",
            "input": "I forgot my password",
            "checks": [
                {"type": "contains", "value": "Forgot password"},
                {"type": "length", "max": 200},
            ],
            "tags": ["account"],
        },
    ]
    # More billing and account questions, so the tag table and intervals have some weight.
    for i in range(12):
        cases.append(
            {
                "name": f"refund question {i + 1}",
                "input": f"Is a refund possible after {20 + i * 3} days?",
                "checks": [{"type": "contains", "value": "30 days"}],
                "tags": ["billing"],
            }
        )
    for i in range(6):
        cases.append(
            {
                "name": f"account question {i + 1}",
                "input": "Where do I change my password?" if i % 2 else "How do I delete my data?",
                "checks": [{"type": "contains", "value": "password"}],
                "tags": ["account"],
            }
        )
    return cases


@dataclass
class Seeded:
    """Ids of what :func:`seed` made."""

    agent_id: str
    run_v1: str
    run_v2: str
    read_key: str
    extra_runs: list[str] = field(default_factory=list)


def seed(client: Client, *, history: int = 0) -> Seeded:
    """Agents, versions and finished runs through the API (``history`` more runs for trends)."""
    client.create_agent(
        {"id": "support-bot", "name": "Support bot", "kind": "scripted", "config": SUPPORT_V1}
    )
    client.create_agent(
        {
            "id": "slow-bot",
            "name": "Slow bot",
            "kind": "scripted",
            "config": {"default": "ok", "latency_ms": 150},
        }
    )
    cases = support_cases()
    extra: list[str] = []
    for i in range(history):
        subset = cases[: 10 + i * 3]
        accepted = client.submit_batch("support-bot", test_cases=subset, name=f"nightly {i + 1}")
        extra.append(client.wait_for_run(accepted.run_id, timeout=60, poll_s=0.05).run_id)
    v1 = client.submit_batch("support-bot", test_cases=cases, name="support v1")
    client.wait_for_run(v1.run_id, timeout=60, poll_s=0.05)
    client.update_agent("support-bot", config=SUPPORT_V2)
    v2 = client.submit_batch("support-bot", test_cases=cases, name="support v2")
    client.wait_for_run(v2.run_id, timeout=60, poll_s=0.05)
    read_key = client.create_key("dashboard reader", scopes=["read"]).key
    return Seeded(
        agent_id="support-bot",
        run_v1=v1.run_id,
        run_v2=v2.run_id,
        read_key=read_key,
        extra_runs=extra,
    )


@contextmanager
def serve(database: Path, **env: str) -> Iterator[str]:
    """The app on a free 127.0.0.1 port (uvicorn in a thread); yields its base URL."""
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "AIFACTORY_API_KEYS": ADMIN_KEY,
            "AIFACTORY_SESSION_SECRET": SESSION_SECRET,
            "AIFACTORY_LEASE_S": "5",
            **env,
        }
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_config=None, log_level="warning", lifespan="on", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The dashboard's test server did not start.")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@dataclass
class Site:
    """The seeded app a browser test talks to."""

    url: str
    admin_key: str
    seeded: Seeded
    client: Client


@pytest.fixture(scope="session")
def dashboard_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app with the dashboard, seeded once for every browser test."""
    database = tmp_path_factory.mktemp("dashboard") / "dashboard.db"
    with serve(database) as url, Client(url, api_key=ADMIN_KEY) as client:
        yield Site(url=url, admin_key=ADMIN_KEY, seeded=seed(client), client=client)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless, for one test module."""
    if not Path(CHROMIUM).exists():
        unavailable(
            f"{CHROMIUM}, which the browser tests drive, is missing", "apt-get install chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, site: Site, key: str | None = None) -> None:
    """Sign ``page`` in through the sign-in form (with the admin key by default)."""
    page.goto(f"{site.url}/signin")
    page.fill("#api_key", key or site.admin_key)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(f"{site.url}/")
