"""Dashboard pages through the ASGI stack: headers, static files, escaping, auth off, OpenAPI."""

from __future__ import annotations

import re

import httpx
import pytest
from tests.fakes.service import ADMIN_KEY, Service


async def sign_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = await http.post("/signin", data={"api_key": ADMIN_KEY, "csrf_token": token[1]})
    assert answer.status_code == 303


async def test_agent_names_and_ids_are_escaped_on_every_page(service: Service) -> None:
    await service.client.create_agent(
        {
            "id": "tricky",
            "name": "<img src=x onerror=alert(1)>",
            "kind": "scripted",
            "config": {"default": "ok"},
        }
    )
    async with service.raw() as http:
        await sign_in(http)
        for path in ("/", "/agents/tricky"):
            page = await http.get(path)
            assert page.status_code == 200
            assert "<img src=x" not in page.text
            assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_static_files_are_served_with_their_types_and_nothing_else(
    service: Service,
) -> None:
    async with service.raw() as http:
        js = await http.get("/ui/static/dashboard.js")
        css = await http.get("/ui/static/dashboard.css")
        other = await http.get("/ui/static/..%2F..%2Fsettings.py")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "textContent" in js.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.headers["x-content-type-options"] == "nosniff"
    assert other.status_code == 404


async def test_the_dashboard_is_not_in_the_openapi_document(service: Service) -> None:
    paths = (await service.http.get("/openapi.json")).json()["paths"]
    assert not [
        p for p in paths if not p.startswith("/api/") and p not in ("/health", "/ping", "/metrics")
    ]
    assert "/api/v1/agents" in paths


async def test_an_unknown_run_and_an_unknown_report_format_are_404_pages(
    service: Service,
) -> None:
    async with service.raw() as http:
        await sign_in(http)
        missing = await http.get("/runs/no-such-run")
        fmt = await http.get("/runs/no-such-run/report?format=exe")
    assert missing.status_code == 404 and "no-such-run" in missing.text
    assert "content-security-policy" in missing.headers
    assert fmt.status_code == 404 and "html, markdown" in fmt.text


@pytest.mark.parametrize("service_env", [{"AIFACTORY_AUTH": "disabled"}])
async def test_with_auth_disabled_the_pages_open_without_signing_in(service: Service) -> None:
    async with service.raw() as http:
        agents = await http.get("/")
        sign_in = await http.get("/signin")
    assert agents.status_code == 200
    assert "Sign out" not in agents.text
    assert sign_in.status_code == 303 and sign_in.headers["location"] == "/"
