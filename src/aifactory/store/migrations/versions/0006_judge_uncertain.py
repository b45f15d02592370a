"""The uncertain review queue: a result keeps whether its judge was unsure, indexed.

A result is uncertain when one of its judge checks (an ``llm_rubric`` or ``factuality`` check, or
one that reports a judge's usage) scored within 0.15 of its threshold, or its judge samples split
around the threshold. The queue used to decide that in Python on every result it read, newest
first; it now reads ``judge_uncertain`` through the partial indexes
``ix_results_agent_uncertain`` and ``ix_results_run_uncertain``, which hold only those results.

New rows get the flag when their result is written. The upgrade back-fills the finished rows a
batch at a time (keyset by id): the rule reads the checks' JSON, so it is applied here in Python,
as this revision's code decided it (:func:`is_uncertain`).

Revision ID: 0006_judge_uncertain
Revises: 0005_conversations
Create Date: 2025-01-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_judge_uncertain"
down_revision: str | Sequence[str] | None = "0005_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
"""Rows read (and at most updated) per statement of the back-fill."""

# As the code of this revision decided it; kept here so later code changes do not alter history.
_JUDGE_TYPES = frozenset({"llm_rubric", "factuality"})
_MARGIN = 0.15

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
results = sa.table(
    "results",
    sa.column("id", sa.String),
    sa.column("test_case", _JSON),
    sa.column("checks", _JSON),
    sa.column("finished_at", sa.DateTime),
    sa.column("judge_uncertain", sa.Boolean),
)
_INDEXES = (
    ("ix_results_agent_uncertain", ["agent_id", "finished_at DESC", "id DESC"]),
    ("ix_results_run_uncertain", ["run_id", "case_index", "repeat_index"]),
)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float)


def is_uncertain(test_case: Any, checks: Any) -> bool:
    """Whether a stored result's judge was unsure (its ``test_case`` and ``checks`` JSON)."""
    specs = test_case.get("checks") if isinstance(test_case, dict) else None
    specs = specs if isinstance(specs, list) else []
    for index, check in enumerate(checks if isinstance(checks, list) else []):
        if not isinstance(check, dict):
            continue
        spec = specs[index] if index < len(specs) else None
        check_type = str((spec if isinstance(spec, dict) else check).get("type") or "")
        base_type = check_type[4:] if check_type.startswith("not_") else check_type
        if base_type not in _JUDGE_TYPES and check.get("usage") is None:
            continue
        details = check.get("details") or {}
        threshold = details.get("threshold")
        if not _number(threshold):
            continue
        samples = details.get("samples")
        if isinstance(samples, list) and samples:
            above = sum(1 for s in samples if _number(s) and s >= threshold)
            if 0 < above < len(samples):
                return True
        score = details.get("score")
        if _number(score) and abs(score - threshold) <= _MARGIN + 1e-12:
            return True
    return False


def _backfill(conn: sa.Connection) -> None:
    after = ""
    while True:
        rows = conn.execute(
            sa.select(results.c.id, results.c.test_case, results.c.checks)
            .where(results.c.id > after, results.c.finished_at.is_not(None))
            .order_by(results.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        uncertain = [row.id for row in rows if is_uncertain(row.test_case, row.checks)]
        if uncertain:
            conn.execute(
                results.update()
                .where(results.c.id.in_(uncertain))
                .values(judge_uncertain=sa.true())
            )


def _columns(names: list[str]) -> list[Any]:
    return [sa.literal_column(name) if " " in name else name for name in names]


def upgrade() -> None:
    """Add ``judge_uncertain`` to results, back-fill it, then index the uncertain rows."""
    op.add_column(
        "results",
        sa.Column("judge_uncertain", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    _backfill(op.get_bind())
    for name, columns in _INDEXES:
        op.create_index(
            name,
            "results",
            _columns(columns),
            unique=False,
            postgresql_where=sa.text("judge_uncertain"),
            sqlite_where=sa.text("judge_uncertain = 1"),
        )


def downgrade() -> None:
    """Drop the indexes and the column."""
    for name, _columns_of in reversed(_INDEXES):
        op.drop_index(
            name,
            table_name="results",
            postgresql_where=sa.text("judge_uncertain"),
            sqlite_where=sa.text("judge_uncertain = 1"),
        )
    op.drop_column("results", "judge_uncertain")
