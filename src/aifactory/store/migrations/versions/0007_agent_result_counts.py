"""Agents' result counts spread over a few rows each, so writers do not queue for one row.

An agent's count of finished results was the ``results_count`` column of its row, which every
single run and every batch completion of that agent updated: on PostgreSQL each writer held the
row's lock until its commit came back, and under load a quarter of the writing sessions waited
for it. The count is now the sum of the agent's rows in ``agent_result_counts`` (up to 16; a
transaction adds to one at random). The upgrade moves each agent's count to its shard 0 and
drops the column; the downgrade sums them back.

Revision ID: 0007_agent_result_counts
Revises: 0006_judge_uncertain
Create Date: 2025-01-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_agent_result_counts"
down_revision: str | Sequence[str] | None = "0006_judge_uncertain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``agent_result_counts``, move the counts into it, drop ``agents.results_count``."""
    op.create_table(
        "agent_result_counts",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_result_counts_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "shard", name=op.f("pk_agent_result_counts")),
    )
    op.execute(
        "INSERT INTO agent_result_counts (agent_id, shard, n) "
        "SELECT id, 0, results_count FROM agents WHERE results_count <> 0"
    )
    # SQLite (3.35+) and PostgreSQL drop a plain column in place; a batch copy of agents would
    # have to drop the table every other table points at.
    op.execute("ALTER TABLE agents DROP COLUMN results_count")


def downgrade() -> None:
    """Put ``agents.results_count`` back, summed from the rows, and drop the table."""
    op.add_column(
        "agents",
        sa.Column("results_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE agents SET results_count = COALESCE((SELECT SUM(c.n) FROM agent_result_counts c "
        "WHERE c.agent_id = agents.id), 0)"
    )
    op.drop_table("agent_result_counts")
