"""attempt history: every upsert attempt that carried a delivery

`deliveries.attempt_ids`, appended by the flush where it sets `attempt_id`. A nullable column without a default
is added without rewriting the table; deliveries made before it keep NULL (the event page then shows their
last attempt, `attempt_id`, as before).

Revision ID: d4a6b8c0e2f4
Revises: c3e5071a2b38
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d4a6b8c0e2f4"
down_revision: str | None = "c3e5071a2b38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("attempt_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "attempt_ids")
