"""clock skew: an event dated too far after its arrival is clamped, and the clamp recorded

Revision ID: f6b8d0e2a4c6
Revises: e5a7c9d1f3b5
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f6b8d0e2a4c6"
down_revision: str | None = "e5a7c9d1f3b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing; events stored before were never clamped.
    op.add_column("events", sa.Column("clock_clamped_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "clock_clamped_from")
