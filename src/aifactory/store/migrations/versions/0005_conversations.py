"""Conversations: a result keeps its transcript, its number of agent replies, why it stopped, and
what the simulated user cost.

Every new column is nullable and left NULL for single-turn cases (and for every row written before
this revision), so the upgrade touches no row.

Revision ID: 0005_conversations
Revises: 0004_labels
Create Date: 2025-01-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_conversations"
down_revision: str | Sequence[str] | None = "0004_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)
_COLUMNS = (
    ("transcript", _JSON),
    ("turns", sa.Integer()),
    ("stop_reason", sa.String(length=20)),
    ("simulator_input_tokens", sa.Integer()),
    ("simulator_output_tokens", sa.Integer()),
    ("simulator_cost_usd", sa.Float()),
)


def upgrade() -> None:
    """Add the conversation columns to results."""
    for name, type_ in _COLUMNS:
        op.add_column("results", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    """Drop them again."""
    for name, _type in reversed(_COLUMNS):
        op.drop_column("results", name)
