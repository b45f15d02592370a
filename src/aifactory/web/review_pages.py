"""The dashboard's review pages: label results at speed, and read each judge's agreement.

``/review`` shows one item of the review queue (of an agent or a run, by strategy) with its
input, output, the judge's reasoning and the rubric side by side; its script labels with the
keys ``p``, ``f``, ``s``, ``c`` through two JSON endpoints under ``/ui/api/`` and moves to the
next item without reloading (they answer in the API's error shape, and a POST carries the
session's CSRF token in ``X-CSRF-Token``). Without scripts the same page works through a form.
``/agreement`` shows an agent's judges against the people. Labeling needs the ``write`` scope.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aifactory.domain.review import REVIEW_STRATEGIES, ReviewItem, ReviewStrategy
from aifactory.errors import InvalidInput, NotFound
from aifactory.service.sessions import Viewer
from aifactory.web import review_views, views
from aifactory.web.render import CSRF_FIELD, Dashboard, DashboardDep, secure

router = APIRouter(include_in_schema=False)

CSRF_HEADER = "x-csrf-token"
MAX_COMMENT = 10_000
WRITE_MESSAGE = "Labeling needs an API key with the 'write' scope."

IdQuery = Annotated[str | None, Query(max_length=64)]
SkipQuery = Annotated[list[str], Query(max_length=200)]


class LabelForm(BaseModel):
    """A reviewer's verdict from the review page's script."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


def _strategy(value: str | None) -> ReviewStrategy:
    for strategy in REVIEW_STRATEGIES:
        if value == strategy:
            return strategy
    return "uncertain"


def _scope(agent_id: str | None, run_id: str | None) -> dict[str, str]:
    # A run is narrower than an agent: with both, the run decides.
    return {"run_id": run_id} if run_id else {"agent_id": agent_id} if agent_id else {}


def review_url(
    strategy: str, agent_id: str | None, run_id: str | None, skip: list[str] | None = None
) -> str:
    """The review page of this queue (leaving out the results in ``skip``)."""
    params = [("strategy", strategy), *_scope(agent_id, run_id).items()]
    params += [("skip", s) for s in review_views.skipped(skip or [])]
    return "/review?" + urlencode(params)


async def next_item(
    dash: Dashboard,
    viewer: Viewer,
    strategy: ReviewStrategy,
    agent_id: str | None,
    run_id: str | None,
    skip: list[str],
) -> ReviewItem | None:
    """The first item of the queue that the reviewer has not skipped.

    Raises:
        NotFound: no such agent or run.
    """
    skipped = set(skip)
    queue = await dash.services.review.queue(
        strategy=strategy,
        reviewer=viewer.principal,
        limit=1 + len(skipped),
        **_scope(agent_id, run_id),
    )
    return next((item for item in queue.items if item.id not in skipped), None)


@router.get("/review")
async def review_page(
    request: Request,
    dash: DashboardDep,
    strategy: Annotated[str | None, Query(max_length=20)] = None,
    agent_id: IdQuery = None,
    run_id: IdQuery = None,
    skip: SkipQuery = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    chosen = _strategy(strategy)
    agent_id, run_id = agent_id or None, run_id or None
    skip = review_views.skipped(skip)
    agents = await dash.services.agents.list(limit=500, offset=0)
    run = None
    item = None
    if run_id:
        try:
            run = await dash.services.runs.get(run_id)
        except NotFound as exc:
            return dash.not_found(request, viewer, str(exc))
        agent_id = run.agent_id
    if agent_id:
        try:
            found = await next_item(dash, viewer, chosen, agent_id, run_id, skip)
        except NotFound as exc:
            return dash.not_found(request, viewer, str(exc))
        item = review_views.review_item(found) if found else None
    context: dict[str, Any] = {
        "agents": agents,
        "agent_id": agent_id,
        "run": run,
        "strategy": chosen,
        "strategies": review_views.STRATEGY_HELP,
        "item": item,
        "skip": skip,
        "can_label": viewer.can("write"),
        "next_url": "/ui/api/review/next?"
        + urlencode({"strategy": chosen, **_scope(agent_id, run_id)}),
        "skip_url": review_url(chosen, agent_id, run_id, [*skip, item["id"] if item else ""]),
    }
    return dash.render(request, "review.html", viewer, context)


@router.post("/review/label")
async def label_from_form(
    request: Request,
    dash: DashboardDep,
    result_id: Annotated[str, Form(max_length=64)],
    verdict: Annotated[str, Form(max_length=10)],
    comment: Annotated[str, Form(max_length=MAX_COMMENT)] = "",
    strategy: Annotated[str, Form(max_length=20)] = "uncertain",
    agent_id: Annotated[str, Form(max_length=64)] = "",
    run_id: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD, max_length=256)] = None,
) -> Response:
    """The review page's form without scripts: label, then back to the queue."""
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    if not dash.csrf_ok(request, viewer, csrf_token):
        return dash.forbidden(request, viewer, views.CSRF_MESSAGE)
    if not viewer.can("write"):
        return dash.forbidden(request, viewer, WRITE_MESSAGE)
    if verdict not in ("pass", "fail"):
        return dash.error(request, viewer, "Unknown verdict", "A verdict is pass or fail.", 422)
    try:
        await dash.services.review.add_label(
            result_id,
            passed=verdict == "pass",
            reviewer=viewer.principal,
            comment=comment.strip() or None,
        )
    except NotFound as exc:
        return dash.not_found(request, viewer, str(exc))
    url = review_url(_strategy(strategy), agent_id or None, run_id or None)
    return secure(RedirectResponse(url, status_code=303))


@router.get("/ui/api/review/next")
async def review_next(
    request: Request,
    dash: DashboardDep,
    strategy: Annotated[str | None, Query(max_length=20)] = None,
    agent_id: IdQuery = None,
    run_id: IdQuery = None,
    skip: SkipQuery = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    """The next item of the queue as JSON (``{"item": …}``, null when the queue is empty)."""
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.json(views.error_body("unauthorized", "Sign in again."), 401)
    agent_id, run_id = agent_id or None, run_id or None
    if not agent_id and not run_id:
        message = "Give the review queue a run_id or an agent_id."
        return dash.json(views.error_body("invalid_input", message), 422)
    try:
        found = await next_item(
            dash, viewer, _strategy(strategy), agent_id, run_id, review_views.skipped(skip)
        )
    except NotFound as exc:
        return dash.json(views.error_body("not_found", str(exc)), 404)
    return dash.json({"item": review_views.review_item(found) if found else None})


@router.post("/ui/api/results/{result_id}/labels")
async def label_result(request: Request, result_id: str, dash: DashboardDep) -> Response:
    """Label a result from the review page's script (JSON ``{"passed", "comment"}``)."""
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.json(views.error_body("unauthorized", "Sign in again."), 401)
    if not dash.csrf_ok(request, viewer, request.headers.get(CSRF_HEADER)):
        return dash.json(views.error_body("forbidden", views.CSRF_MESSAGE), 403)
    if not viewer.can("write"):
        return dash.json(views.error_body("forbidden", WRITE_MESSAGE), 403)
    try:
        form = LabelForm.model_validate_json(await request.body())
    except ValidationError:
        message = 'A label is {"passed": true|false, "comment": "…"}.'
        return dash.json(views.error_body("invalid_input", message), 422)
    try:
        label = await dash.services.review.add_label(
            result_id,
            passed=form.passed,
            reviewer=viewer.principal,
            comment=(form.comment or "").strip() or None,
        )
    except NotFound as exc:
        return dash.json(views.error_body("not_found", str(exc)), 404)
    except InvalidInput as exc:
        return dash.json(views.error_body("invalid_input", str(exc)), 422)
    return dash.json({"label": review_views.label_body(label)}, 201)


@router.get("/agreement")
async def agreement_page(
    request: Request, dash: DashboardDep, agent_id: IdQuery = None
) -> Response:
    viewer = await dash.viewer(request)
    if viewer is None:
        return dash.sign_in_redirect(request)
    agents = await dash.services.agents.list(limit=500, offset=0)
    agent_id = agent_id or None
    agent = None
    rows: list[review_views.AgreementRow] = []
    if agent_id:
        try:
            agent = await dash.services.agents.get(agent_id)
        except NotFound as exc:
            return dash.not_found(request, viewer, str(exc))
        report = await dash.services.review.agreement(agent_id=agent_id)
        rows = review_views.agreement_rows(report.items)
    context = {"agents": agents, "agent": agent, "agent_id": agent_id, "rows": rows}
    return dash.render(request, "agreement.html", viewer, context)
