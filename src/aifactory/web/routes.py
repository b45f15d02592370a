"""The dashboard's pages: sign-in, agents, an agent, runs, a run, two runs compared.

Routes parse, call the services the API uses, and render a template; nothing here is in the
OpenAPI document. Pages need a signed-in session whose key has the ``read`` scope; cancelling a
run needs ``write`` and a CSRF token, like every form POST.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from aifactory.domain.runs import ACTIVE, RUN_STATUSES
from aifactory.errors import Forbidden, NotFound, RateLimited, Unauthorized
from aifactory.reports.html import REPORT_CSP
from aifactory.service.insights import REPORT_FORMATS, report_filename
from aifactory.web import views
from aifactory.web.render import (
    CSRF_FIELD,
    SESSION_COOKIE,
    STATIC_FILES,
    DashboardDep,
    is_https,
    safe_next,
    secure,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_FLIPS = 500
"""Flips listed on the compare page; the counts and the statistics cover all of them."""
CASE_STATUSES = ("passed", "failed", "error")


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    # Filter forms send empty values for "any"; an unknown value means no filter either.
    return value if value in allowed else None


@router.get("/signin")
async def sign_in_page(request: Request, dash: DashboardDep, next: str = "/") -> Response:
    if not dash.sessions.required or await dash.viewer(request) is not None:
        return secure(RedirectResponse(safe_next(next), status_code=303))
    return dash.render(request, "signin.html", None, {"next": safe_next(next), "error": None})


@router.post("/signin")
async def sign_in(
    request: Request,
    dash: DashboardDep,
    api_key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=256)] = None,
) -> Response:
    if not dash.csrf_ok(request, None, csrf_token):
        return dash.forbidden(request, None, views.CSRF_MESSAGE)
    target = safe_next(next)
    client = request.client.host if request.client else None
    try:
        token = await dash.sessions.open(api_key, client=client)
    except RateLimited as exc:
        # Failed sign-ins count against the address like failed API calls.
        context = {"next": target, "error": str(exc)}
        page = dash.render(request, "signin.html", None, context, status_code=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except (Unauthorized, Forbidden) as exc:
        context = {"next": target, "error": str(exc)}
        return dash.render(request, "signin.html", None, context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=dash.sessions.ttl_s,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )
    return secure(response)


@router.post("/signout")
async def sign_out(
    request: Request,
    dash: DashboardDep,
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=256)] = None,
) -> Response:
    viewer = await dash.viewer(request)
    if not dash.csrf_ok(request, viewer, csrf_token):
        return dash.forbidden(request, viewer, views.CSRF_MESSAGE)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )
    return secure(response)


@router.get("/")
async def agents_page(request: Request, dash: DashboardDep) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    agents = await dash.services.agents.list(limit=500, offset=0)
    recent = await dash.services.runs.list(agent_id=None, status=None, limit=500, offset=0)
    context = {"agents": agents, "latest": views.latest_runs(recent.items)}
    return dash.render(request, "agents.html", viewer, context)


@router.get("/agents/{agent_id}")
async def agent_page(request: Request, agent_id: str, dash: DashboardDep) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    try:
        agent = await dash.services.agents.get(agent_id)
    except NotFound as exc:
        return dash.not_found(request, viewer, str(exc))
    versions = await dash.services.agents.versions(agent_id, limit=100, offset=0)
    runs = await dash.services.runs.list(agent_id=agent_id, status=None, limit=20, offset=0)
    context: dict[str, Any] = {"agent": agent, "versions": versions, "runs": runs}
    context.update(await views.agent_trend(dash.services, agent_id))
    return dash.render(request, "agent.html", viewer, context)


@router.get("/runs")
async def runs_page(
    request: Request,
    dash: DashboardDep,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    agent_id = agent_id or None
    status = _choice(status, RUN_STATUSES)
    runs = await dash.services.runs.list(
        agent_id=agent_id, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "runs": runs,
        "agent_id": agent_id,
        "status": status,
        "pager": views.pager(runs.total, page, PAGE_SIZE, request),
        "active": ACTIVE,
    }
    return dash.render(request, "runs.html", viewer, context)


@router.get("/runs/{run_id}")
async def run_page(
    request: Request,
    run_id: str,
    dash: DashboardDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    tag = tag or None
    status = _choice(status, CASE_STATUSES)
    try:
        run = await dash.services.runs.get(run_id)
    except NotFound as exc:
        return dash.not_found(request, viewer, str(exc))
    results = await dash.services.runs.results(
        run_id, status=status, tag=tag, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "run": run,
        "summary": views.summary_view(run),
        "results": results,
        "status": status,
        "tag": tag,
        "tags": views.run_tags(run, tag),
        "pager": views.pager(results.total, page, PAGE_SIZE, request),
        "active": run.status in ACTIVE,
        "reports": views.REPORT_FORMATS,
    }
    return dash.render(request, "run.html", viewer, context)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    request: Request,
    run_id: str,
    dash: DashboardDep,
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=256)] = None,
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    if not dash.csrf_ok(request, viewer, csrf_token):
        return dash.forbidden(request, viewer, views.CSRF_MESSAGE)
    if not viewer.can("write"):
        return dash.forbidden(
            request, viewer, "Cancelling a run needs an API key with the 'write' scope."
        )
    try:
        await dash.services.runs.cancel(run_id)
    except NotFound as exc:
        return dash.not_found(request, viewer, str(exc))
    return secure(RedirectResponse(f"/runs/{run_id}", status_code=303))


@router.get("/runs/{run_id}/report")
async def run_report(
    request: Request,
    run_id: str,
    dash: DashboardDep,
    format: Annotated[str, Query(max_length=20)] = "html",
) -> Response:
    """The run's report file, as the API serves it, for a signed-in browser."""
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    if format not in REPORT_FORMATS:
        message = f"A report's format is one of {', '.join(REPORT_FORMATS)}."
        return dash.error(request, viewer, "Unknown format", message, 404)
    try:
        body, media_type = await dash.services.insights.report(run_id, format)
    except NotFound as exc:
        return dash.not_found(request, viewer, str(exc))
    response = secure(Response(body, media_type=media_type))
    filename = report_filename(run_id, format)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The HTML report runs its own inline script; in a sandbox it gets an origin of its own.
    response.headers["Content-Security-Policy"] = f"{REPORT_CSP}; sandbox allow-scripts"
    return response


@router.get("/compare")
async def compare_page(
    request: Request,
    dash: DashboardDep,
    base: Annotated[str | None, Query(max_length=64)] = None,
    head: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    base, head = base or None, head or None
    runs = await views.run_choices(dash.services, base, head)
    if base is None:
        base = views.default_base(runs, head)
    context: dict[str, Any] = {
        "runs": runs,
        "base": base,
        "head": head,
        "comparison": None,
        "max_flips": MAX_FLIPS,
    }
    if base and head:
        try:
            comparison = await dash.services.insights.compare(base, head)
        except NotFound as exc:
            return dash.not_found(request, viewer, str(exc))
        context["comparison"] = comparison
        context["side"] = views.side_rows(comparison)
    return dash.render(request, "compare.html", viewer, context)


@router.get("/ui/api/runs/{run_id}/progress")
async def run_progress(request: Request, run_id: str, dash: DashboardDep) -> Response:
    """A run's counters as JSON, for the pages' live progress (cookie-authenticated)."""
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.json(views.error_body("unauthorized", "Sign in again."), 401)
    try:
        run = await dash.services.runs.get(run_id)
    except NotFound as exc:
        return dash.json(views.error_body("not_found", str(exc)), 404)
    return dash.json(views.progress_body(run))


@router.get("/ui/static/{name}")
async def static_file(name: str, dash: DashboardDep) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return secure(Response(status_code=404))
    response = Response(dash.static[name], media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return secure(response, cache=True)
