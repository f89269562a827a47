"""integration lifecycle: disabled integrations, key and config problems as statuses

Revision ID: a1c3e5f70916
Revises: 5b2e9c41d7a3
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "a1c3e5f70916"
down_revision: str | None = "5b2e9c41d7a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No schema change: the new statuses (disabled, key_unreadable, config_invalid) fit integrations.status, a
    # VARCHAR(20) without a CHECK constraint (a non-native enum). The revision stays so the chain is unchanged.
    pass


def downgrade() -> None:
    pass
