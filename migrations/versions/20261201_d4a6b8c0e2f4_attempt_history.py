"""attempt history: every upsert attempt that carried a delivery

Revision ID: d4a6b8c0e2f4
Revises: c3e5071a2b38
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "d4a6b8c0e2f4"
down_revision: str | None = "c3e5071a2b38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
