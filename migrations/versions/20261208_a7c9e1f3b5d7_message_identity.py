"""message identity: unreadable bodies keyed by their digest, conflicting re-sends recorded

Revision ID: a7c9e1f3b5d7
Revises: f6b8d0e2a4c6
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c9e1f3b5d7"
down_revision: str | None = "f6b8d0e2a4c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing. Events stored before have no digest, and a re-send of
    # one of them is taken as a retry (nothing to compare with). The new status 'conflicting' fits the
    # status column's VARCHAR(20), which has no CHECK constraint.
    op.add_column("events", sa.Column("digest", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("conflicts_with", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE events SET status = 'rejected' WHERE status = 'conflicting'")
    op.drop_column("events", "conflicts_with")
    op.drop_column("events", "digest")
