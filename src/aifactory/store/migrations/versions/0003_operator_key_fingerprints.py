"""Operator keys: replace the plaintext prefix stored for display with a fingerprint of the hash.

Keys stored from ``AIFACTORY_API_KEYS`` used to keep their first 12 characters as the display
prefix, which for a short key was the whole key. Such rows (named ``bootstrap-N``, or with a
prefix that is not the ``afk_`` + 8 random characters of a generated key) now show
``sha256:`` + the first 8 hex digits of the stored hash, as new operator keys do. The plaintext
cannot be brought back, so the downgrade leaves the fingerprints in place.

Revision ID: 0003_key_fingerprints
Revises: 0002_reflections
Create Date: 2025-01-03 00:00:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_key_fingerprints"
down_revision: str | Sequence[str] | None = "0002_reflections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the code of this revision made them; kept here so later code changes do not alter history.
_GENERATED_PREFIX = re.compile(r"afk_[A-Za-z0-9_-]{8}")
_OPERATOR_NAME = re.compile(r"bootstrap-[0-9]+")

api_keys = sa.table(
    "api_keys",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("prefix", sa.String),
    sa.column("key_hash", sa.String),
)


def fingerprint(key_hash: str) -> str:
    """The display prefix of an operator key: ``sha256:`` and 8 hex digits of its hash."""
    return "sha256:" + key_hash[:8]


def is_plaintext_part(name: str, prefix: str) -> bool:
    """Whether a stored prefix may be part of a key the operator supplied."""
    if prefix.startswith("sha256:"):
        return False
    return bool(_OPERATOR_NAME.fullmatch(name)) or not _GENERATED_PREFIX.fullmatch(prefix)


def upgrade() -> None:
    """Fingerprint the operator keys' display prefixes."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.key_hash)
    )
    for key_id, name, prefix, key_hash in rows.all():
        if is_plaintext_part(name, prefix):
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id)
                .values(prefix=fingerprint(key_hash))
            )


def downgrade() -> None:
    """Nothing to undo: the plaintext is gone, and a fingerprint fits the older code too."""
