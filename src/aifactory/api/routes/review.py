"""Human review: labels on results, the review queue, judges' agreement, the golden set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from aifactory.api.deps import ReadKey, ServicesDep, WriteKey
from aifactory.api.schemas_review import AgreementReport, LabelCreate, LabelPublic, ReviewQueue
from aifactory.domain.paging import Page
from aifactory.domain.review import ReviewStrategy
from aifactory.service.review import ExportFormat

router = APIRouter(tags=["review"])

IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.post(
    "/api/v1/results/{result_id}/labels",
    response_model=LabelPublic,
    status_code=201,
    operation_id="createLabel",
)
async def create_label(
    result_id: str, body: LabelCreate, services: ServicesDep, key: WriteKey
) -> LabelPublic:
    """Label a finished result, or one of its checks, as passed or failed."""
    label = await services.review.add_label(
        result_id,
        passed=body.passed,
        reviewer=key,
        check=body.check,
        score=body.score,
        comment=body.comment,
    )
    return LabelPublic.of(label)


@router.get(
    "/api/v1/results/{result_id}/labels",
    response_model=Page[LabelPublic],
    operation_id="listLabels",
)
async def list_labels(
    result_id: str,
    services: ServicesDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[LabelPublic]:
    """A result's labels, oldest first."""
    labels = await services.review.list_labels(result_id)
    items = [LabelPublic.of(label) for label in labels[offset : offset + limit]]
    return Page[LabelPublic](items=items, total=len(labels), limit=limit, offset=offset)


@router.delete(
    "/api/v1/labels/{label_id}",
    status_code=204,
    operation_id="deleteLabel",
    response_class=Response,
)
async def delete_label(label_id: str, services: ServicesDep, key: WriteKey) -> Response:
    """Delete a label: its reviewer or an admin."""
    await services.review.delete_label(label_id, caller=key)
    return Response(status_code=204)


@router.get("/api/v1/review/queue", response_model=ReviewQueue, operation_id="getReviewQueue")
async def review_queue(
    services: ServicesDep,
    key: ReadKey,
    run_id: IdQuery = None,
    agent_id: IdQuery = None,
    strategy: ReviewStrategy = "uncertain",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> ReviewQueue:
    """The results most worth a person's time (of a run or an agent), each with why."""
    return await services.review.queue(
        strategy=strategy, reviewer=key, run_id=run_id, agent_id=agent_id, limit=limit
    )


@router.get(
    "/api/v1/judges/agreement", response_model=AgreementReport, operation_id="getJudgeAgreement"
)
async def judge_agreement(
    services: ServicesDep,
    _: ReadKey,
    agent_id: IdQuery = None,
    suite_id: IdQuery = None,
    check_type: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> AgreementReport:
    """Each judge criterion against the people's labels: agreement, kappa, confusion counts."""
    return await services.review.agreement(
        agent_id=agent_id, suite_id=suite_id, check_type=check_type
    )


@router.get(
    "/api/v1/review/export",
    operation_id="exportGoldenSet",
    response_class=Response,
    responses={
        200: {
            "description": "The golden set as a suite file.",
            "content": {"application/yaml": {}, "application/jsonl": {}},
        }
    },
)
async def export_golden_set(
    services: ServicesDep,
    _: ReadKey,
    agent_id: Annotated[str, Query(min_length=1, max_length=64)],
    format: Annotated[ExportFormat, Query(description="yaml or jsonl.")] = "yaml",
) -> Response:
    """The agent's labeled cases as a suite file that ``aifactory run`` and import read back."""
    body, media_type = await services.review.export(agent_id, format)
    extension = "yaml" if format == "yaml" else "jsonl"
    headers = {
        "Content-Disposition": f'attachment; filename="{agent_id}-golden.{extension}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content=body, media_type=media_type, headers=headers)
