"""privacy: erasure records, and what retention needs

Revision ID: b2d4f6081a27
Revises: a1c3e5f70916
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "b2d4f6081a27"
down_revision: str | None = "a1c3e5f70916"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
