"""identities hold every visitor key processing has seen, linked to an email or not yet

A batch that may hold an event of a visitor with no link, and a batch that links a visitor with an identify,
both lock the visitor's `identities` rows (FOR UPDATE, in key order) before they read the links, so they cannot
miss each other. A key with no identify yet gets a row without an email to lock.

Revision ID: 5b2e9c41d7a3
Revises: 1136691bbe28
Create Date: 2026-12-01 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b2e9c41d7a3"
down_revision: str | None = "1136691bbe28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("identities", "email", existing_type=sa.String(length=254), nullable=True)
    op.alter_column("identities", "linked_at", existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM identities WHERE email IS NULL OR linked_at IS NULL")
    op.alter_column("identities", "email", existing_type=sa.String(length=254), nullable=False)
    op.alter_column("identities", "linked_at", existing_type=sa.DateTime(timezone=True), nullable=False)
