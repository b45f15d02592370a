"""``/docs``: Swagger UI served from an installed package, so the page works offline.

FastAPI's own ``/docs`` loads Swagger UI from a CDN (a blank page without the internet, and a
third-party script on the page that holds an API key). Here the script, the stylesheet and the
icon come from the ``swagger-ui-bundle-v2`` package, mounted under ``/docs/assets``; only those
three files are served from it. The page's Content-Security-Policy allows scripts from this
origin and the one inline script that starts Swagger UI (by its hash), and no other host.
``/redoc`` is off: no installed package ships ReDoc.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from aifactory import __version__

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
"""The files of the package the page loads; every other file of it answers 404."""
SWAGGER_UI_PARAMETERS = {
    # Swagger UI would otherwise send the document to an online validator for a badge.
    "validatorUrl": None,
    # Keep the key in the page's memory only, never in localStorage.
    "persistAuthorization": False,
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class _Assets(StaticFiles):
    """The package's Swagger UI files, limited to :data:`ASSETS`, cached by version."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in ASSETS:
            raise HTTPException(404, "No such file of the API documentation page.")
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            # The page asks for ?v=<aifactory version>, so an upgrade is fetched anew.
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def _content_security_policy(html: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def swagger_ui_page(root_path: str, openapi_url: str, title: str) -> HTMLResponse:
    """The Swagger UI page for the document at ``openapi_url``, with its security headers."""
    assets = f"{root_path}{ASSETS_PATH}"
    page = get_swagger_ui_html(
        openapi_url=f"{root_path}{openapi_url}",
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js?v={__version__}",
        swagger_css_url=f"{assets}/swagger-ui.css?v={__version__}",
        swagger_favicon_url=f"{assets}/favicon-32x32.png?v={__version__}",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    html = bytes(page.body).decode()
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": _content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets from the installed package (build the app with
    ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_PATH, _Assets(directory=swagger_ui_path), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        return swagger_ui_page(root_path, openapi_url, app.title)
