"""message identity: unreadable bodies keyed by their digest, conflicting re-sends recorded

Revision ID: a7c9e1f3b5d7
Revises: f6b8d0e2a4c6
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

revision: str = "a7c9e1f3b5d7"
down_revision: str | None = "f6b8d0e2a4c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
