"""Labels: reviewers' pass or fail verdicts on a result, or on one check of it.

A label keeps its reviewer (the API key's name, and the key's id) and what it is measured against,
copied from its result when it is written (a finished result never changes): the result's agent,
run and suite, and the judge check it counts for (its index, type, criterion and verdict). An
agent's agreement is then read from its labels alone (``ix_labels_agent_created``), never from a
scan of its results.

Revision ID: 0004_labels
Revises: 0003_key_fingerprints
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_labels"
down_revision: str | Sequence[str] | None = "0003_key_fingerprints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the labels table and its indexes."""
    op.create_table(
        "labels",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("result_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("suite_id", sa.String(length=64), nullable=True),
        sa.Column("check_index", sa.Integer(), nullable=True),
        sa.Column("judged_check", sa.Integer(), nullable=True),
        sa.Column("check_type", sa.String(length=100), nullable=True),
        sa.Column("criterion", sa.Text(), nullable=True),
        sa.Column("judge_passed", sa.Boolean(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=("fk_labels_result_id_results"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=("pk_labels")),
    )
    op.create_index("ix_labels_result_created", "labels", ["result_id", "created_at"], unique=False)
    op.create_index("ix_labels_agent_created", "labels", ["agent_id", "created_at"], unique=False)
    op.create_index("ix_labels_run", "labels", ["run_id"], unique=False)


def downgrade() -> None:
    """Drop the labels table."""
    op.drop_index("ix_labels_run", table_name="labels")
    op.drop_index("ix_labels_agent_created", table_name="labels")
    op.drop_index("ix_labels_result_created", table_name="labels")
    op.drop_table("labels")
