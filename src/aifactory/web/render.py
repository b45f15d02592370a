"""The dashboard's plumbing: templates, static files, security headers, who is signed in.

One :class:`Dashboard` per app, built on first use from the app's services. Every response it
makes carries the security headers: a Content-Security-Policy that allows scripts, styles,
images and fetches from this origin only (no inline script, no inline style, no framing), plus
``X-Content-Type-Options``, ``X-Frame-Options`` and ``Referrer-Policy``.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from aifactory import __version__
from aifactory.service.container import Services
from aifactory.service.sessions import Sessions, Viewer, new_form_token, tokens_match
from aifactory.web.formatting import FILTERS

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
RELOAD_PAGE = (
    '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0">'
    "<title>AI Factory Testing</title><p>Opening the dashboard…</p>"
)
STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "review.js": "text/javascript; charset=utf-8",
}

SESSION_COOKIE = "aif_session"
CSRF_COOKIE = "aif_csrf"
CSRF_FIELD = "csrf_token"


def secure(response: Response, *, cache: bool = False) -> Response:
    """Add the security headers (and, for pages, ``Cache-Control: no-store``)."""
    response.headers.update(SECURITY_HEADERS)
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


def is_https(request: Request) -> bool:
    """Whether the browser reached us over TLS (as uvicorn's proxy headers report it)."""
    return request.url.scheme == "https"


def safe_next(target: str | None) -> str:
    """A same-site path to return to after signing in; anything else becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


class Dashboard:
    """Templates, static files and sessions of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.sessions: Sessions = services.sessions
        self.env = Environment(
            loader=PackageLoader("aifactory.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)
        self.env.globals["version"] = __version__
        files = resources.files("aifactory.web") / "static"
        self.static = {name: (files / name).read_bytes() for name in STATIC_FILES}

    async def viewer(self, request: Request) -> Viewer | None:
        """The signed-in viewer, or None (the anonymous viewer when auth is disabled)."""
        if not self.sessions.required:
            return self.sessions.anonymous()
        viewer = await self.sessions.resume(request.cookies.get(SESSION_COOKIE))
        if viewer is not None:
            await self.sessions.throttle(viewer)
        return viewer

    def form_token(self, request: Request, viewer: Viewer | None) -> str:
        """The CSRF token a form on this page must carry."""
        if viewer is not None and viewer.csrf_token:
            return viewer.csrf_token
        token = request.cookies.get(CSRF_COOKIE)
        if not token:
            token = getattr(request.state, "new_csrf", None) or new_form_token()
            request.state.new_csrf = token
        return str(token)

    def csrf_ok(self, request: Request, viewer: Viewer | None, sent: str | None) -> bool:
        """Whether a submitted form's CSRF token is the one this viewer was given."""
        if viewer is not None and viewer.csrf_token:
            return tokens_match(sent, viewer.csrf_token)
        return tokens_match(sent, request.cookies.get(CSRF_COOKIE))

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> Response:
        """A page from ``template`` with the security headers."""
        values: dict[str, Any] = {
            "request": request,
            "viewer": viewer,
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.form_token(request, viewer),
            "auth_required": self.sessions.required,
            "static": lambda name: f"/ui/static/{name}?v={__version__}",
            "path": request.url.path,
        }
        values.update(context or {})
        html = self.env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status_code)
        new_token = getattr(request.state, "new_csrf", None)
        if new_token:
            response.set_cookie(
                CSRF_COOKIE,
                new_token,
                httponly=True,
                samesite="strict",
                secure=is_https(request),
                path="/",
            )
        return secure(response)

    def sign_in_redirect(self, request: Request) -> Response:
        """To the sign-in page, coming back here afterwards.

        A link followed from another site arrives without the SameSite=Strict session cookie
        even when the browser has one; such a request gets a page that reloads itself, a
        same-site navigation that carries the cookie, before concluding that nobody signed in.
        """
        if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
            return secure(HTMLResponse(RELOAD_PAGE))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return secure(RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303))

    def error(
        self, request: Request, viewer: Viewer | None, title: str, message: str, status_code: int
    ) -> Response:
        """An error page (404, 403, …) with ``message`` saying what to do."""
        context = {"title": title, "message": message}
        return self.render(request, "error.html", viewer, context, status_code=status_code)

    def not_found(self, request: Request, viewer: Viewer | None, message: str) -> Response:
        return self.error(request, viewer, "Not found", message, 404)

    def forbidden(self, request: Request, viewer: Viewer | None, message: str) -> Response:
        return self.error(request, viewer, "Forbidden", message, 403)

    @staticmethod
    def json(body: dict[str, Any], status_code: int = 200) -> Response:
        return secure(JSONResponse(body, status_code=status_code))


async def get_dashboard(request: Request) -> Dashboard:
    """The app's dashboard, built once from its services."""
    state = request.app.state
    dashboard: Dashboard | None = getattr(state, "dashboard", None)
    if dashboard is None or dashboard.services is not state.services:
        dashboard = Dashboard(state.services)
        state.dashboard = dashboard
    return dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]
