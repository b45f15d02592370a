"""The OpenAPI document's security scheme, and ``/docs`` served from the package's own assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from tests.fakes.service import Service

from aifactory.api.docs import ASSETS

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
OPEN_OPERATIONS = {"/health", "/ping", "/metrics"}


class _Links(HTMLParser):
    """Every URL a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


@SQLITE_ONLY
async def test_every_api_operation_declares_the_bearer_scheme_and_the_probes_do_not(
    service: Service,
) -> None:
    async with service.raw() as anonymous:
        document = (await anonymous.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert len(schemes) == 1
    (name, scheme), *_ = schemes.items()
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert "security" not in document  # per operation, so the probes stay open
    api = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/api/v1/"):
                api += 1
                assert operation.get("security") == [{name: []}], (method, path)
                # The header is the scheme's, not a parameter of its own.
                headers = {p["name"].lower() for p in operation.get("parameters", [])}
                assert "authorization" not in headers, (method, path)
            else:
                assert path in OPEN_OPERATIONS, path
                assert "security" not in operation, (method, path)
    assert api >= 30


@SQLITE_ONLY
async def test_the_scheme_keeps_the_api_own_401_messages(service: Service) -> None:
    async with service.raw() as anonymous:
        missing = await anonymous.get("/api/v1/agents")
        other_scheme = await anonymous.get(
            "/api/v1/agents", headers={"Authorization": "Basic YTpi"}
        )
        wrong = await anonymous.get("/api/v1/agents", headers={"Authorization": "Bearer afk_no"})
        health = await anonymous.get("/health")
    assert missing.status_code == other_scheme.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "An API key is required" in missing.json()["error"]["message"]
    assert "must be 'Bearer <key>'" in other_scheme.json()["error"]["message"]
    assert "not valid" in wrong.json()["error"]["message"]
    assert health.status_code == 200


@SQLITE_ONLY
async def test_docs_load_only_assets_of_this_server_and_they_answer(service: Service) -> None:
    async with service.raw() as anonymous:
        page = await anonymous.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        links = _Links()
        links.feed(page.text)
        assert len(links.urls) == 3
        # Nothing from another host, in the markup or anywhere in the page's text.
        assert not re.search(r"https?://|//[a-z]", page.text, re.IGNORECASE)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in csp
        assert "http" not in csp
        kinds = set()
        for url in links.urls:
            assert url.startswith("/docs/assets/"), url
            asset = await anonymous.get(url)
            assert asset.status_code == 200, url
            kind = asset.headers["content-type"].split(";")[0]
            kinds.add(kind)
            if kind.endswith("javascript"):
                assert "SwaggerUIBundle" in asset.text
        assert {"text/css", "image/png"} <= kinds
        assert any(k.endswith("javascript") for k in kinds)
        assert (await anonymous.get("/openapi.json")).status_code == 200


@SQLITE_ONLY
async def test_only_the_assets_the_page_needs_are_served(service: Service) -> None:
    async with service.raw() as anonymous:
        for name in ASSETS:
            assert (await anonymous.get(f"/docs/assets/{name}")).status_code == 200
        # The package's own index page would load a demo document from the internet.
        for path in (
            "/docs/assets/index.html",
            "/docs/assets/swagger-initializer.js",
            "/docs/assets/",
            "/docs/assets/%2e%2e/__init__.py",
            "/redoc",
        ):
            response = await anonymous.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
