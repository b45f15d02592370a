"""The HTTP shapes of human review: labels in and out, the queue, agreement."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from aifactory.domain.agreement import Confusion
from aifactory.domain.models import Review, RunReview
from aifactory.domain.review import AgreementReport, JudgeAgreement, Label, ReviewItem, ReviewQueue

MAX_COMMENT = 10_000


class LabelCreate(BaseModel):
    """A reviewer's verdict on a result, or on one of its checks."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    score: float | None = Field(default=None, ge=0, le=1)
    """The reviewer's own score, optional."""
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    check: int | None = Field(default=None, ge=0, le=10_000)
    """The index of one check of the result; absent: the result as a whole."""


class LabelPublic(BaseModel):
    """A stored label; ``reviewer`` is the name of the key that wrote it."""

    id: str
    result_id: str
    check: int | None
    passed: bool
    score: float | None
    comment: str | None
    reviewer: str
    created_at: datetime

    @classmethod
    def of(cls, label: Label) -> LabelPublic:
        return cls(
            id=label.id,
            result_id=label.result_id,
            check=label.check,
            passed=label.passed,
            score=label.score,
            comment=label.comment,
            reviewer=label.reviewer,
            created_at=label.created_at,
        )


__all__ = [
    "AgreementReport",
    "Confusion",
    "JudgeAgreement",
    "LabelCreate",
    "LabelPublic",
    "Review",
    "ReviewItem",
    "ReviewQueue",
    "RunReview",
]
