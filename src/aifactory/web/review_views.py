"""What the review and agreement pages show, shaped from what the review service answers.

:func:`review_item` turns a queue item into one plain mapping that both the review page's
template (the first item) and its script (every next item, as JSON) lay out, so the two never
disagree on what an item shows. :func:`agreement_rows` adds to each judge criterion the readings
the agreement page prints next to the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aifactory.domain.review import (
    JudgeAgreement,
    Label,
    ReviewItem,
    criterion_of,
    judge_check_indexes,
)
from aifactory.web.charts import IntervalBar, interval_bar
from aifactory.web.formatting import pct

STRATEGY_HELP = {
    "uncertain": "the judge was least sure: a score near its threshold, or samples that split",
    "disagreement": "a reviewer's label contradicts the judge",
    "unlabeled": "nobody has labeled these yet: a plain sample",
}
"""What each strategy offers, as the page's chooser explains it (one per strategy)."""

MAX_SKIPPED = 99
"""Results a reviewer skipped that the next item leaves out (the most recent ones)."""


def review_item(item: ReviewItem) -> dict[str, Any]:
    """A queue item as the review page shows it (JSON-ready: strings, numbers, lists)."""
    case = item.test_case
    judges = set(judge_check_indexes(item))
    specs = case.checks
    checks = []
    for index, check in enumerate(item.checks):
        details = check.details or {}
        threshold = details.get("threshold")
        if threshold is None and index < len(specs):
            threshold = specs[index].params.get("threshold")
        judge = index in judges
        checks.append(
            {
                "index": index,
                "type": check.type,
                "status": check.status,
                "passed": check.passed,
                "score": round(check.score, 4),
                "threshold": threshold if isinstance(threshold, int | float) else None,
                "reason": check.reason,
                "judge": judge,
                "criterion": criterion_of(case, index) if judge and index < len(specs) else None,
            }
        )
    conversation: list[dict[str, str]] = []
    if item.transcript:
        conversation = [{"role": entry.role, "content": entry.content} for entry in item.transcript]
    elif isinstance(case.input, list):
        conversation = [{"role": m.role, "content": m.content} for m in case.input]
    elif case.turns:
        conversation = [{"role": "user", "content": turn.input} for turn in case.turns]
    elif case.simulated_user is not None:
        user = case.simulated_user
        conversation = [{"role": "simulated user", "content": user.persona}]
        if user.goal:
            conversation.append({"role": "goal", "content": user.goal})
    review = item.review
    return {
        "id": item.id,
        "run_id": item.run_id,
        "agent_id": item.agent_id,
        "agent_version": item.agent_version,
        "case": case.name,
        "repeat": item.repeat_index + 1,
        "tags": list(case.tags),
        "reason": item.review_reason,
        "status": item.status,
        "score": round(item.score, 4),
        "input": case.input if isinstance(case.input, str) else None,
        "conversation": conversation,
        "expected": case.expected,
        "output": item.output,
        "error": item.error,
        "checks": checks,
        "labels": review.labels if review else 0,
        "people_passed": review.passed if review else None,
    }


def label_body(label: Label) -> dict[str, Any]:
    """A stored label as the review page's script reads it."""
    return {
        "id": label.id,
        "result_id": label.result_id,
        "check": label.check,
        "passed": label.passed,
        "comment": label.comment,
        "reviewer": label.reviewer,
        "created_at": label.created_at.isoformat(),
    }


def skipped(values: Sequence[str]) -> list[str]:
    """The skipped results the queue should leave out: non-empty, distinct, the latest ones."""
    seen: dict[str, None] = {}
    for value in values:
        if value and len(value) <= 64:
            seen.pop(value, None)
            seen[value] = None
    return list(seen)[-MAX_SKIPPED:]


KAPPA_READINGS = (
    (0.80, "almost perfect"),
    (0.60, "substantial"),
    (0.40, "moderate"),
    (0.20, "fair"),
    (0.0, "slight"),
)
"""Landis & Koch (1977): the lower bound of each reading (above it, up to the next)."""


def kappa_reading(kappa: float | None) -> str:
    """How kappa is commonly read: ``slight`` … ``almost perfect``, or ``worse than chance``."""
    if kappa is None:
        return ""
    if kappa < 0:
        return "worse than chance"
    for bound, reading in KAPPA_READINGS:
        if kappa > bound:
            return reading
    return "slight"


@dataclass(frozen=True, slots=True)
class AgreementRow:
    """One judge criterion and how to read it."""

    item: JudgeAgreement
    reading: str
    """Kappa as Landis & Koch read it."""
    lenient: str
    """What the judge passed and people failed: ``3 of 50 items (6%)`` (fp over labeled)."""
    strict: str
    """What the judge failed and people passed (fn over labeled)."""
    agreement_bar: IntervalBar | None


def agreement_rows(items: Sequence[JudgeAgreement]) -> list[AgreementRow]:
    """The agreement page's rows, most labeled first (as the service orders them)."""
    rows = []
    for item in items:
        n = item.labeled
        confusion = item.confusion
        agreement_ci = item.agreement_ci
        rows.append(
            AgreementRow(
                item=item,
                reading=kappa_reading(item.kappa),
                lenient=f"{confusion.fp} of {n} items ({pct(confusion.fp / n, 0)})" if n else "",
                strict=f"{confusion.fn} of {n} items ({pct(confusion.fn / n, 0)})" if n else "",
                agreement_bar=interval_bar(
                    item.agreement,
                    agreement_ci.low if agreement_ci else None,
                    agreement_ci.high if agreement_ci else None,
                    width=160,
                    title=f"agreement {pct(item.agreement)} over {n} labeled items",
                ),
            )
        )
    return rows
