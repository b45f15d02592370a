"""Labels: reviewers' pass or fail verdicts on a result, or on one check of it.

A label keeps its reviewer (the API key's name, and the key's id) and its result's agent and run,
copied from the result, so an agent's or a run's labels are read through their own index and
joined to their results by primary key instead of scanning the agent's results.

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
        sa.Column("check_index", sa.Integer(), nullable=True),
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
